import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
import { PatinaError } from '@patina/api'
import type { SchemaModel, Statement } from '../types.js'
import { bindParams, guard, guardMethods } from './driver.js'

/**
 * Asks SQLite what a query does, so that the subscription planner never has to trust a
 * JavaScript SQL parser for it. The probe is a private in-memory database holding the
 * schema's tables and indexes (no rows), where a query is prepared, never run:
 * `EXPLAIN` lists the program's opcodes (aggregates, window functions, the b-trees it
 * opens, the functions it calls), `EXPLAIN QUERY PLAN` the loops it runs, and
 * `pragma_function_list` which functions are aggregates or not deterministic.
 */
export interface ExplainOp {
  opcode: string
  p1: number
  p2: number
  p4: string | null
}

export interface PlanRow {
  id: number
  parent: number
  detail: string
}

export interface QueryFacts {
  /** Result column names, in order. */
  columns: string[]
  /** Whether SQLite considers the statement read-only. */
  readonly: boolean
  /** The program (`EXPLAIN`). */
  ops: ExplainOp[]
  /** The query plan (`EXPLAIN QUERY PLAN`). */
  plan: PlanRow[]
  /**
   * Tables whose b-trees the program opens (through the table or one of its indexes), by
   * name; a b-tree that is no table of the schema (such as `sqlite_schema`) is listed as
   * `sqlite_schema`.
   */
  tablesRead: string[]
}

export interface FunctionInfo {
  name: string
  /** `s` scalar, `a` aggregate, `w` aggregate usable as a window function (or window-only). */
  type: string
  /** Declared number of arguments (-1 for any). */
  narg: number
  deterministic: boolean
}

export interface QueryProbe {
  /**
   * Prepares `sql` (binding `params`) and returns what SQLite says of it. A statement
   * SQLite refuses is `PATINA_ERR_STATEMENT_INVALID` with SQLite's message
   * (`PATINA_ERR_UNKNOWN_TABLE` for a table that is not in the schema).
   */
  explain(sql: string, params?: Statement['params']): QueryFacts
  /** SQLite's built-in functions (`pragma_function_list`). */
  functions(): readonly FunctionInfo[]
  close(): void
}

const SQLITE_DETERMINISTIC = 0x800

/**
 * Opens a probe for `schema`. Cheap: an empty in-memory database. Driver errors come out as
 * `PatinaError` (see `driver.ts`).
 */
export function createQueryProbe(schema: SchemaModel): QueryProbe {
  return guardMethods(guard(() => openProbe(schema)))
}

function openProbe(schema: SchemaModel): QueryProbe {
  const db: Db = new Database(':memory:')
  for (const t of schema.tables.values()) {
    db.exec(t.sql)
    for (const ix of t.indexes) db.exec(ix.sql)
  }
  const roots = new Map<number, string>()
  for (const r of db.prepare('SELECT rootpage, tbl_name FROM sqlite_schema WHERE rootpage > 0').all() as {
    rootpage: number
    tbl_name: string
  }[])
    roots.set(r.rootpage, r.tbl_name)
  roots.set(1, 'sqlite_schema')
  let fns: FunctionInfo[] | null = null

  function prepare(text: string): ReturnType<Db['prepare']> {
    try {
      return db.prepare(text)
    } catch (err) {
      const msg = (err as Error).message
      const m = /^no such table: (?:main\.)?(.+)$/.exec(msg)
      if (m) {
        throw new PatinaError(
          'PATINA_ERR_UNKNOWN_TABLE',
          `table ${JSON.stringify(m[1])} is not a table of the schema`,
          { cause: err },
        )
      }
      throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', msg, { cause: err })
    }
  }

  return {
    explain(sql, params) {
      const stmt = prepare(sql)
      const args = bindParams(sql, params) as [object]
      const ex = prepare('EXPLAIN ' + sql)
      const eqp = prepare('EXPLAIN QUERY PLAN ' + sql)
      let ops: ExplainOp[]
      let plan: PlanRow[]
      try {
        ops = (ex.all(...args) as ExplainOp[]).map((o) => ({
          opcode: o.opcode,
          p1: o.p1,
          p2: o.p2,
          p4: o.p4 === null || o.p4 === undefined ? null : String(o.p4),
        }))
        plan = (eqp.all(...args) as PlanRow[]).map((r) => ({ id: r.id, parent: r.parent, detail: r.detail }))
      } catch (err) {
        throw new PatinaError('PATINA_ERR_PARAM_INVALID', (err as Error).message, { cause: err })
      }
      const tables = new Set<string>()
      for (const o of ops) {
        if (o.opcode === 'OpenRead' || o.opcode === 'ReopenIdx') {
          tables.add(roots.get(o.p2) ?? 'sqlite_schema')
        }
      }
      return {
        columns: stmt.reader ? stmt.columns().map((c) => c.name) : [],
        readonly: stmt.readonly && stmt.reader,
        ops,
        plan,
        tablesRead: [...tables],
      }
    },
    functions() {
      fns ??= (
        db.prepare('SELECT name, type, narg, flags FROM pragma_function_list').all() as {
          name: string
          type: string
          narg: number
          flags: number
        }[]
      ).map((f) => ({
        name: f.name,
        type: f.type,
        narg: f.narg,
        deterministic: (f.flags & SQLITE_DETERMINISTIC) !== 0,
      }))
      return fns
    },
    close() {
      db.close()
    },
  }
}
