import { PatinaError } from '@patina/api'
import type { ColumnModel, GeneratedColumn, SchemaModel, TableModel } from '../types.js'

/** What the store learned from SQLite about a table's constraints (see `store/schema-checks.ts`). */
export interface ConstraintFacts {
  /** Each CHECK with the columns it reads, and whether its one column's default fails it. */
  checks?: { sql: string; columns: string[]; defaultFails: boolean }[]
  /** Collation of each primary-key column in the key index. */
  keyCollations?: { column: string; collation: string }[]
}

export interface SchemaPlan {
  newTables: TableModel[]
  /** Per existing table, the columns to add (in order). */
  addColumns: { table: string; columns: ColumnModel[] }[]
  /** Generated columns to add to existing tables (VIRTUAL only: SQLite cannot add a STORED one). */
  addGenerated: { table: string; column: GeneratedColumn }[]
  createIndexes: { table: string; name: string; sql: string }[]
  dropIndexes: { table: string; name: string }[]
}

const INTERNAL = /^(__patina|sqlite_)/i

/**
 * Check one table against the replication rules (DESIGN §2): a non-null primary key,
 * a default for every non-key NOT NULL column, no foreign keys, no UNIQUE constraint
 * besides the key. And two rules that keep every merge a row SQLite accepts and identifies as
 * replication does (docs/architecture.md, "Rows a merge can build"):
 *
 * - key columns compare as BINARY: under NOCASE or RTRIM two keys that differ in bytes are one
 *   row to SQLite and two rows to replication;
 * - a CHECK reads one column only, and that column's default passes it: a merge combines cells
 *   written by different nodes (and fills cells not yet received with their default), so a
 *   CHECK relating two columns can fail on a row no node ever wrote.
 *
 * Errors name the table, the column and the rule.
 */
export function checkTableRules(
  t: TableModel,
  extra: { foreignKeys: number; uniqueIndexes: string[]; generated: string[] } & ConstraintFacts,
): void {
  const refuse = (msg: string): never => {
    throw new PatinaError('PATINA_ERR_SCHEMA_INVALID', `table "${t.name}": ${msg}`)
  }
  if (INTERNAL.test(t.name)) refuse('names starting with "__patina" or "sqlite_" are reserved')
  if (t.pk.length === 0) refuse('a PRIMARY KEY is required (rule: every replicated table has a primary key)')
  if (extra.foreignKeys > 0) refuse('FOREIGN KEY constraints are not allowed (rule: no foreign keys)')
  if (extra.uniqueIndexes.length > 0) {
    refuse(
      `UNIQUE constraint or index ${extra.uniqueIndexes.join(', ')} is not allowed (rule: no UNIQUE besides the primary key)`,
    )
  }
  for (const k of extra.keyCollations ?? []) {
    if (k.collation.toUpperCase() !== 'BINARY') {
      refuse(
        `primary key column "${k.column}" uses COLLATE ${k.collation}; key columns must compare as BINARY (rule: a row is identified by its key's bytes, and two keys equal under ${k.collation} would be one row to SQLite but two rows to replication, which diverge for good)`,
      )
    }
  }
  for (const ch of extra.checks ?? []) {
    if (ch.columns.length > 1) {
      refuse(
        `CHECK (${ch.sql}) reads columns ${ch.columns.map((c) => `"${c}"`).join(', ')}; a CHECK may read one column only (rule: a merge combines cells written on different nodes, so a CHECK relating columns can fail on a row no node wrote, and both nodes would refuse the other's write)`,
      )
    }
    if (ch.defaultFails) {
      const col = t.columns.find((c) => c.name === ch.columns[0])
      refuse(
        `column "${ch.columns[0]}": its default (${col?.defaultSql ?? 'NULL'}) fails CHECK (${ch.sql}) (rule: a merged row can hold a column's default until its cell arrives, so the default must pass the column's CHECK)`,
      )
    }
  }
  for (const c of t.columns) {
    if (c.pk > 0) {
      // Key columns are NOT NULL whatever the declaration says: NULL key values are refused
      // when written (SQLite would accept them in a rowid table), so Corrosion's schemas such
      // as `id BLOB PRIMARY KEY` work unchanged.
    } else if (c.notNull && c.defaultSql === null) {
      refuse(
        `column "${c.name}": NOT NULL columns need a DEFAULT (rule: every non-key NOT NULL column has a default)`,
      )
    }
  }
}

const sameColumn = (a: ColumnModel, b: ColumnModel): boolean =>
  a.name === b.name &&
  a.type.toUpperCase() === b.type.toUpperCase() &&
  a.notNull === b.notNull &&
  a.defaultSql === b.defaultSql &&
  a.pk === b.pk

/**
 * Plan an additive change from `current` to `next`. Tables absent from `next` are kept
 * (schema files overlay, as in Corrosion). Removing or changing a column, or changing the
 * key, is destructive and refused.
 */
export function planSchemaChange(current: SchemaModel, next: SchemaModel): SchemaPlan {
  const plan: SchemaPlan = {
    newTables: [],
    addColumns: [],
    addGenerated: [],
    createIndexes: [],
    dropIndexes: [],
  }
  const destructive = (msg: string): never => {
    throw new PatinaError('PATINA_ERR_SCHEMA_DESTRUCTIVE', msg)
  }
  for (const t of next.tables.values()) {
    const cur = current.tables.get(t.name)
    if (cur === undefined) {
      plan.newTables.push(t)
      for (const ix of t.indexes) plan.createIndexes.push({ table: t.name, ...ix })
      continue
    }
    if (cur.pk.join(',') !== t.pk.join(',')) {
      destructive(
        `table "${t.name}": primary key changed from (${cur.pk.join(', ')}) to (${t.pk.join(', ')}); key changes are destructive and refused`,
      )
    }
    const added: ColumnModel[] = []
    cur.columns.forEach((c, i) => {
      const n = t.columns[i]
      if (n === undefined || n.name !== c.name) {
        const has = t.columns.find((x) => x.name === c.name)
        if (has === undefined)
          destructive(
            `table "${t.name}": column "${c.name}" removed; removing columns is destructive and refused`,
          )
        destructive(`table "${t.name}": column "${c.name}" moved; new columns must be added at the end`)
      }
      if (!sameColumn(c, n as ColumnModel)) {
        destructive(
          `table "${t.name}": column "${c.name}" definition changed; changing a column is destructive and refused`,
        )
      }
    })
    for (const c of t.columns.slice(cur.columns.length)) {
      if (c.pk > 0) destructive(`table "${t.name}": new column "${c.name}" cannot be part of the primary key`)
      added.push(c)
    }
    if (added.length > 0) plan.addColumns.push({ table: t.name, columns: added })
    const curGen = new Map((cur.generated ?? []).map((g) => [g.name, g]))
    const nextGen = new Map((t.generated ?? []).map((g) => [g.name, g]))
    for (const [name, g] of curGen) {
      const n = nextGen.get(name)
      if (n === undefined)
        destructive(
          `table "${t.name}": generated column "${name}" removed; removing columns is destructive and refused`,
        )
      else if (n.sql !== g.sql)
        destructive(
          `table "${t.name}": generated column "${name}" changed from ${JSON.stringify(g.sql)} to ${JSON.stringify(n.sql)}; changing a column is destructive and refused`,
        )
    }
    for (const [name, g] of nextGen) {
      if (curGen.has(name)) continue
      if (g.stored) {
        throw new PatinaError(
          'PATINA_ERR_SCHEMA_INVALID',
          `table "${t.name}": generated column "${name}" is STORED; SQLite can only add VIRTUAL generated columns to an existing table (write it as ... AS (expr) VIRTUAL)`,
        )
      }
      plan.addGenerated.push({ table: t.name, column: g })
    }
    const curIx = new Map(cur.indexes.map((i) => [i.name, i.sql]))
    const nextIx = new Map(t.indexes.map((i) => [i.name, i.sql]))
    for (const [name, sql] of nextIx) {
      const old = curIx.get(name)
      if (old === sql) continue
      if (old !== undefined) plan.dropIndexes.push({ table: t.name, name })
      plan.createIndexes.push({ table: t.name, name, sql })
    }
    for (const name of curIx.keys()) if (!nextIx.has(name)) plan.dropIndexes.push({ table: t.name, name })
  }
  return plan
}
