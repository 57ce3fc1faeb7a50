import { PatinaError } from '@patina/api'
import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
import { checkTableRules, planSchemaChange, type SchemaPlan } from '../schema/diff.js'
import { analyzeChecks, keyCollations } from './schema-checks.js'
import { leadingKeyword, splitStatements, stripComments } from '../schema/split.js'
import { columnDefinitions } from '../schema/columns.js'
import type { ColumnModel, GeneratedColumn, SchemaModel, TableModel } from '../types.js'

export const q = (name: string): string => `"${name.replace(/"/g, '""')}"`
export const clockTable = (table: string): string => q(`__patina_clock_${table}`)

interface TableExtras {
  foreignKeys: number
  uniqueIndexes: string[]
  generated: string[]
  withoutRowid: boolean
}

/** Read a table's model from a database with SQLite's own pragmas. */
export function introspectTable(db: Db, name: string): { model: TableModel; extras: TableExtras } {
  const cols = db.prepare(`SELECT * FROM pragma_table_xinfo(?)`).all(name) as {
    name: string
    type: string
    notnull: number
    dflt_value: string | null
    pk: number
    hidden: number
  }[]
  const columns: ColumnModel[] = cols
    .filter((c) => c.hidden === 0)
    .map((c) => ({
      name: c.name,
      type: c.type,
      notNull: c.notnull === 1,
      defaultSql: c.dflt_value,
      pk: c.pk,
    }))
  const pk = columns
    .filter((c) => c.pk > 0)
    .sort((a, b) => a.pk - b.pk)
    .map((c) => c.name)
  const indexes = db
    .prepare(
      `SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name`,
    )
    .all(name) as { name: string; sql: string }[]
  const ixList = db.prepare(`SELECT * FROM pragma_index_list(?)`).all(name) as {
    name: string
    unique: number
    origin: string
  }[]
  const sqlRow = db.prepare(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`).get(name) as
    { sql: string } | undefined
  const wr = db
    .prepare(`SELECT wr, strict FROM pragma_table_list WHERE name = ? AND schema = 'main'`)
    .get(name) as { wr: number; strict: number } | undefined
  const defs = columnDefinitions(sqlRow?.sql ?? '')
  const generated: GeneratedColumn[] = cols
    .filter((c) => c.hidden === 2 || c.hidden === 3)
    .map((c) => ({ name: c.name, stored: c.hidden === 3, sql: defs.get(c.name) ?? '' }))
  return {
    model: {
      name,
      columns,
      pk,
      nonPk: columns.filter((c) => c.pk === 0).map((c) => c.name),
      sql: sqlRow?.sql ?? '',
      indexes,
      ...(wr?.strict === 1 ? { strict: true } : {}),
      ...(generated.length > 0 ? { generated } : {}),
    },
    extras: {
      foreignKeys: (
        db.prepare(`SELECT count(*) AS n FROM pragma_foreign_key_list(?)`).get(name) as { n: number }
      ).n,
      uniqueIndexes: ixList.filter((i) => i.unique === 1 && i.origin !== 'pk').map((i) => i.name),
      generated: cols.filter((c) => c.hidden === 2 || c.hidden === 3).map((c) => c.name),
      withoutRowid: wr?.wr === 1,
    },
  }
}

const CREATE_TABLE = /^\s*CREATE\s+TABLE\s/i
const CREATE_INDEX = /^\s*CREATE\s+(UNIQUE\s+)?INDEX\s/i

/**
 * Parse schema SQL (`CREATE TABLE` / `CREATE INDEX` only) by running it in a scratch
 * in-memory database and reading the result back with SQLite's pragmas, then check
 * every table against the replication rules.
 */
export function parseSchema(sql: string): SchemaModel {
  const scratch = new Database(':memory:')
  try {
    for (const stmt of splitStatements(sql)) {
      const text = stripComments(stmt)
      if (!CREATE_TABLE.test(text) && !CREATE_INDEX.test(text)) {
        const kw = leadingKeyword(stmt)
        throw new PatinaError(
          'PATINA_ERR_SCHEMA_INVALID',
          `unsupported schema statement ${JSON.stringify(stmt.slice(0, 80))} (${kw || 'unknown'}): only CREATE TABLE and CREATE INDEX are allowed`,
        )
      }
      try {
        scratch.exec(stmt)
      } catch (err) {
        throw new PatinaError(
          'PATINA_ERR_SCHEMA_INVALID',
          `schema statement failed: ${(err as Error).message}: ${stmt.slice(0, 120)}`,
        )
      }
    }
    const names = (
      scratch.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY rowid`).all() as {
        name: string
      }[]
    ).map((r) => r.name)
    const tables = new Map<string, TableModel>()
    for (const name of names) {
      const { model, extras } = introspectTable(scratch, name)
      checkTableRules(model, {
        ...extras,
        checks: analyzeChecks(scratch, model),
        keyCollations: keyCollations(scratch, name),
      })
      tables.set(name, model)
    }
    return { tables }
  } finally {
    scratch.close()
  }
}

/** The replicated tables currently in the database. */
export function loadSchema(db: Db): SchemaModel {
  const names = (db.prepare(`SELECT name FROM __patina_tables ORDER BY ord`).all() as { name: string }[]).map(
    (r) => r.name,
  )
  const tables = new Map<string, TableModel>()
  for (const name of names) tables.set(name, introspectTable(db, name).model)
  return { tables }
}

const columnDef = (c: ColumnModel): string =>
  `${q(c.name)}${c.type ? ` ${c.type}` : ''}${c.notNull ? ' NOT NULL' : ''}${c.defaultSql !== null ? ` DEFAULT ${c.defaultSql}` : ''}`

/**
 * Apply an additive schema plan inside the caller's transaction. New columns are added
 * with `ALTER TABLE ADD COLUMN` and no clock rows: a cell without a clock holds the
 * column's default on every node, so the change costs no replication traffic.
 *
 * Returns the tables adopted: plain tables that already existed with the same columns (and
 * pass the replication rules as they are); their rows get clocks from the caller.
 */
export function executePlan(db: Db, plan: SchemaPlan): { adopted: string[] } {
  const adopted: string[] = []
  for (const t of plan.newTables) {
    const exists = db
      .prepare(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`)
      .get(t.name) as { sql: string } | undefined
    if (exists === undefined) {
      db.exec(t.sql)
    } else {
      // Adopt a pre-existing plain table when its columns match exactly, and its own
      // constraints (which SQLite enforces, whatever the schema file says) pass the rules.
      const { model: cur, extras } = introspectTable(db, t.name)
      const same = JSON.stringify(cur.columns) === JSON.stringify(t.columns)
      if (!same) {
        throw new PatinaError(
          'PATINA_ERR_SCHEMA_INVALID',
          `table "${t.name}" already exists with different columns; cannot adopt it`,
        )
      }
      checkTableRules(cur, {
        ...extras,
        checks: analyzeChecks(db, cur),
        keyCollations: keyCollations(db, t.name),
      })
      adopted.push(t.name)
    }
    db.exec(
      `CREATE TABLE IF NOT EXISTS ${clockTable(t.name)} (pk BLOB PRIMARY KEY, cl INTEGER NOT NULL, clock BLOB NOT NULL) WITHOUT ROWID`,
    )
    db.prepare(`INSERT OR IGNORE INTO __patina_tables (name) VALUES (?)`).run(t.name)
  }
  for (const { table, column } of plan.addGenerated) {
    try {
      db.exec(`ALTER TABLE ${q(table)} ADD COLUMN ${column.sql}`)
    } catch (err) {
      throw new PatinaError(
        'PATINA_ERR_SCHEMA_INVALID',
        `table "${table}": cannot add generated column "${column.name}": ${(err as Error).message}`,
      )
    }
  }
  for (const { table, columns } of plan.addColumns) {
    for (const c of columns) {
      try {
        db.exec(`ALTER TABLE ${q(table)} ADD COLUMN ${columnDef(c)}`)
      } catch (err) {
        throw new PatinaError(
          'PATINA_ERR_SCHEMA_INVALID',
          `table "${table}": cannot add column "${c.name}": ${(err as Error).message}`,
        )
      }
    }
  }
  for (const ix of plan.dropIndexes) db.exec(`DROP INDEX IF EXISTS ${q(ix.name)}`)
  for (const ix of plan.createIndexes) {
    if (/^\s*CREATE\s+UNIQUE/i.test(ix.sql)) {
      throw new PatinaError(
        'PATINA_ERR_SCHEMA_INVALID',
        `table "${ix.table}": UNIQUE index "${ix.name}" is not allowed`,
      )
    }
    db.exec(ix.sql)
  }
  return { adopted }
}

export { planSchemaChange }
