/**
 * Local tables: tables of the database that are not replicated but that client transactions may
 * write, in the same transaction as replicated writes (Corrosion's `consul sync` keeps its
 * `__corro_consul_*` hash tables that way). The operator declares them by name (`db.local_tables`;
 * a trailing `*` matches a prefix); they are created outside the schema files, by whoever owns
 * them. Patina's internal tables and SQLite's own are never local. Pure.
 */
import { PatinaError } from '@patina/api'

const INTERNAL = /^(__patina|sqlite_)/i

/** Refuses patterns that are empty, or that could match an internal table. */
export function validateLocalTables(patterns: readonly string[]): void {
  for (const p of patterns) {
    const prefix = p.endsWith('*') ? p.slice(0, -1) : p
    if (prefix === '' || p.slice(0, -1).includes('*')) {
      throw new PatinaError(
        'PATINA_ERR_CONFIG_INVALID',
        `db.local_tables entry ${JSON.stringify(p)} must be a table name, or a name prefix followed by one '*'`,
      )
    }
    if (
      INTERNAL.test(prefix) ||
      '__patina'.startsWith(prefix.toLowerCase()) ||
      'sqlite_'.startsWith(prefix.toLowerCase())
    ) {
      throw new PatinaError(
        'PATINA_ERR_CONFIG_INVALID',
        `db.local_tables entry ${JSON.stringify(p)} could match internal tables ("__patina…", "sqlite_…"); those are never writable`,
      )
    }
  }
}

/** Whether `table` is declared local by `patterns` (never an internal table). */
export function isLocalTable(table: string, patterns: readonly string[]): boolean {
  if (INTERNAL.test(table)) return false
  return patterns.some((p) => (p.endsWith('*') ? table.startsWith(p.slice(0, -1)) : table === p))
}
