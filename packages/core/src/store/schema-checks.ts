import type { Database as Db } from 'better-sqlite3'
import { checkConstraints } from '../schema/checks.js'
import type { TableModel } from '../types.js'

/**
 * What SQLite says about a table's constraints that a merge could break: which columns each
 * CHECK reads (from the `EXPLAIN` program of `SELECT (check) FROM table`, SQLite's own answer,
 * not a parse of ours), whether a column's default fails its own CHECK, and the collation of
 * each primary-key column (from the key index). The rules themselves are in `schema/diff.ts`.
 */

export interface CheckInfo {
  /** The CHECK expression as written. */
  sql: string
  /** Columns it reads, in table order. */
  columns: string[]
  /**
   * For a CHECK on one non-key column: true when that column's DEFAULT (NULL without one) fails
   * it, so a merged row holding the default would be refused.
   */
  defaultFails: boolean
}

export interface KeyCollation {
  column: string
  /** Collating sequence of the key column in the primary-key index (e.g. BINARY, NOCASE, RTRIM). */
  collation: string
}

const q = (name: string): string => `"${name.replace(/"/g, '""')}"`

/** The CHECK constraints of `model` (a table in `db`) with the columns each one reads. */
export function analyzeChecks(db: Db, model: TableModel): CheckInfo[] {
  const out: CheckInfo[] = []
  const cols = db
    .prepare(`SELECT name FROM pragma_table_xinfo(?) ORDER BY cid`)
    .pluck()
    .all(model.name) as string[]
  for (const sql of checkConstraints(model.sql)) {
    const ops = db.prepare(`EXPLAIN SELECT (${sql}) FROM ${q(model.name)}`).all() as {
      addr: number
      opcode: string
      p2: number
    }[]
    const read = new Set<string>()
    for (const op of ops) {
      if (op.opcode === 'Rowid') {
        // Only a rowid table's INTEGER PRIMARY KEY is read as the rowid.
        const ipk = model.columns.find((c) => c.pk === 1 && model.pk.length === 1)
        read.add(ipk?.name ?? 'rowid')
      } else if (op.opcode === 'Column') {
        read.add(columnAt(db, model, cols, op.p2))
      }
    }
    const columns = cols.filter((c) => read.has(c))
    for (const c of read) if (!columns.includes(c)) columns.push(c)
    const only = columns.length === 1 ? model.columns.find((c) => c.name === columns[0]) : undefined
    out.push({
      sql,
      columns,
      defaultFails: only !== undefined && only.pk === 0 && defaultFails(db, model, only.name, sql),
    })
  }
  return out
}

/**
 * The column a `Column` opcode reads. In a rowid table it is the storage index (the column
 * order, less VIRTUAL generated columns); in a WITHOUT ROWID table the record holds the key
 * columns first, then the others.
 */
function columnAt(db: Db, model: TableModel, all: string[], p2: number): string {
  const info = db.prepare(`SELECT name, hidden FROM pragma_table_xinfo(?) ORDER BY cid`).all(model.name) as {
    name: string
    hidden: number
  }[]
  const stored = info.filter((c) => c.hidden !== 2).map((c) => c.name)
  const withoutRowid =
    (db
      .prepare(`SELECT wr FROM pragma_table_list WHERE name = ? AND schema = 'main'`)
      .pluck()
      .get(model.name) as number | undefined) === 1
  const order = withoutRowid ? [...model.pk, ...stored.filter((c) => !model.pk.includes(c))] : stored
  return order[p2] ?? all[p2] ?? `column ${p2}`
}

/** Whether `column`'s default (NULL without one) makes `check` false, as SQLite evaluates a CHECK. */
function defaultFails(db: Db, model: TableModel, column: string, check: string): boolean {
  const c = model.columns.find((x) => x.name === column)
  if (c === undefined) return false
  const probe = `temp.${q(`__patina_check_probe`)}`
  db.exec(`DROP TABLE IF EXISTS ${probe}`)
  try {
    db.exec(
      `CREATE TABLE ${probe} (${q(column)} ${c.type} DEFAULT ${c.defaultSql ?? 'NULL'})${model.strict === true ? ' STRICT' : ''}`,
    )
    db.exec(`INSERT INTO ${probe} DEFAULT VALUES`)
    // A CHECK fails when its value, as NUMERIC, is zero; NULL passes.
    const ok = db
      .prepare(
        `SELECT CASE WHEN (${check}) IS NULL THEN 1 WHEN CAST((${check}) AS NUMERIC) = 0 THEN 0 ELSE 1 END FROM ${probe}`,
      )
      .pluck()
      .get() as number
    return ok === 0
  } catch {
    // A default the column cannot even hold is refused by SQLite when the row is written.
    return true
  } finally {
    db.exec(`DROP TABLE IF EXISTS ${probe}`)
  }
}

/** The collation of every primary-key column, read from the key index (none for an INTEGER PRIMARY KEY rowid). */
export function keyCollations(db: Db, table: string): KeyCollation[] {
  const ix = db.prepare(`SELECT name FROM pragma_index_list(?) WHERE origin = 'pk'`).pluck().get(table) as
    string | undefined
  if (ix === undefined) return []
  return (
    db.prepare(`SELECT name, coll FROM pragma_index_xinfo(?) WHERE key = 1 AND cid >= 0`).all(ix) as {
      name: string
      coll: string
    }[]
  ).map((r) => ({ column: r.name, collation: r.coll }))
}
