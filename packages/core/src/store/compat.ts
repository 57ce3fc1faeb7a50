/**
 * Read-only compatibility names for what Corrosion users run against a node's database with
 * cr-sqlite loaded: `crsql_site_id` (a read-only eponymous virtual table: `ordinal` 0 is this
 * node's site id, the actor id as 16 bytes; other ordinals are the sites this node knows) and the
 * functions `crsql_db_version()` and `crsql_site_id()`. Installed on every connection that runs
 * client SQL: nothing is written to the database, and the table cannot be written.
 */
import type { Database as Db } from 'better-sqlite3'

export interface CompatSource {
  /** This node's actor id (a UUID). */
  actorId: string
  /** The last db version this node committed. */
  dbVersion(): number
  /** The sites this node knows: ordinal and actor id (this node's own included). */
  sites(): Iterable<[number, string]>
}

const uuidHex = (uuid: string): string => uuid.replace(/-/g, '').toLowerCase()

export function installCompat(db: Db, src: CompatSource): void {
  const idBytes = (actorId: string): Buffer => Buffer.from(uuidHex(actorId), 'hex')
  // crsql_site_id is an eponymous virtual table rather than a view over __patina_sites: client
  // SQL may not read internal tables (store/explain.ts), and it follows a renewed actor id.
  db.table('crsql_site_id', {
    columns: ['ordinal', 'site_id'],
    *rows() {
      yield [0, idBytes(src.actorId)]
      for (const [ord, actor] of src.sites()) if (actor !== src.actorId) yield [ord, idBytes(actor)]
    },
  })
  db.function('crsql_site_id', { deterministic: false }, () => idBytes(src.actorId))
  // A bigint, so that SQLite gets an INTEGER (a JS number is bound as REAL).
  db.function('crsql_db_version', { deterministic: false }, () => BigInt(src.dbVersion()))
}
