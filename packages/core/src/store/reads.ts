import { PatinaError } from '@patina/api'
import type { SqlValue } from '@patina/api'
import type { Statement as DbStatement } from 'better-sqlite3'
import { exactValue, normalizeValue } from '../crdt/values.js'
import { leadingKeyword } from '../schema/split.js'
import type { QueryCursor, QueryOptions, Statement } from '../types.js'
import type { StoreContext } from './context.js'
import type { Conn } from './db.js'
import { isInterrupt, timeoutError } from './deadline.js'
import { bindParams, statementError } from './driver.js'
import { explain, programFacts, refuseInternals } from './explain.js'
import { q } from './schema-store.js'

/**
 * Client reads. A query runs on a read connection of its own for as long as its rows are being
 * iterated (better-sqlite3 cannot run another statement on a connection while one iterates),
 * so a slow reader never blocks writes or other reads.
 */

const READ_KEYWORDS = new Set(['SELECT', 'WITH', 'VALUES'])

/**
 * Checks that a prepared statement only reads, and answers as Corrosion does otherwise.
 * Preparing has no effect; SQLite's syntax errors come first (as in Corrosion). ATTACH and
 * PRAGMA reads count as read-only for SQLite, so the leading keyword is checked too.
 */
export function assertReadOnly(stmt: DbStatement, sql: string): void {
  const kw = leadingKeyword(sql)
  if (!stmt.readonly || !stmt.reader || !READ_KEYWORDS.has(kw)) {
    throw new PatinaError(
      'PATINA_ERR_NOT_READONLY',
      READ_KEYWORDS.has(kw) || !stmt.readonly
        ? 'statement is not readonly'
        : `statement is not readonly: ${kw} statements are not allowed in queries`,
    )
  }
}

/**
 * Query texts whose `EXPLAIN` program was checked (no internal table or function), per schema:
 * the key is a root-page map, replaced at every schema change.
 */
const checked = new WeakMap<ReadonlyMap<number, string>, Set<string>>()
const MAX_CHECKED = 512
const MAX_CHECKED_SQL_CHARS = 4096

/**
 * Refuses a query that calls an internal function or reads an internal table (see `explain.ts`).
 * `rootPages` maps the connection's root pages to table names.
 */
function checkProgram(
  rootPages: ReadonlyMap<number, string>,
  db: Conn['db'],
  sql: string,
  args: unknown[],
): void {
  let seen = checked.get(rootPages)
  if (seen === undefined) checked.set(rootPages, (seen = new Set()))
  if (seen.has(sql)) return
  refuseInternals(programFacts(explain(db, sql, args), rootPages), '')
  if (sql.length > MAX_CHECKED_SQL_CHARS) return
  if (seen.size >= MAX_CHECKED) seen.clear()
  seen.add(sql)
}

/**
 * Runs one read-only statement; rows stream lazily and the connection returns to the pool when
 * they end (or when the caller calls `rows.return()`). `:memory:` databases (tests) have no
 * read connections: the statement then runs on the writer, all at once (see `openCursor`).
 */
export function query(
  ctx: StoreContext,
  sql: string,
  params?: Statement['params'],
  opts: QueryOptions = {},
): QueryCursor {
  const reader = ctx.readers?.acquire()
  return openCursor(reader ?? ctx.writer, sql, params, opts, {
    eager: reader === undefined,
    rootPages: ctx.rootPages,
    onInterrupt: () => ctx.interrupts++,
    onRelease: () => {
      if (reader !== undefined) ctx.readers?.release(reader)
    },
  })
}

export interface CursorHooks {
  /**
   * Run the statement to its end at once (on a connection shared with other work, so that no
   * statement of it stays open between calls); rows are then served from memory.
   */
  eager: boolean
  /** Root page → table name of the connection's database, to refuse internal tables. */
  rootPages: ReadonlyMap<number, string>
  /** Called when the deadline stopped the statement. */
  onInterrupt(): void
  /** Called once when the cursor is done with the connection (end, error or `return`). */
  onRelease(): void
}

/**
 * A read-only statement on one connection under its deadline, armed once for the statement's
 * whole life: preparing, stepping and the time the caller takes between rows all count, and
 * SQLite stops the statement when it passes (the cursor then throws `PATINA_ERR_TIMEOUT`).
 * Used on the main thread (`query`) and by the read threads (`read-worker.ts`).
 */
export function openCursor(
  conn: Conn,
  sql: string,
  params: Statement['params'],
  opts: QueryOptions,
  hooks: CursorHooks,
): QueryCursor {
  const { db, deadline } = conn
  const ms = opts.timeoutMs
  let open = true
  const release = (): void => {
    if (!open) return
    open = false
    if (ms !== undefined && db.open) deadline.disarm()
    hooks.onRelease()
  }
  /** Runs a step of the statement; an interrupt is its deadline. */
  const step = <T>(fn: () => T, toError: (err: unknown) => PatinaError): T => {
    try {
      return fn()
    } catch (err) {
      if (ms !== undefined && isInterrupt(err)) {
        hooks.onInterrupt()
        throw timeoutError('query', ms, err)
      }
      throw toError(err)
    }
  }
  const invalid = (err: unknown): PatinaError =>
    err instanceof PatinaError ? err : new PatinaError('PATINA_ERR_STATEMENT_INVALID', (err as Error).message)
  let iter: Iterator<unknown[]>
  let columns: QueryCursor['columns']
  try {
    if (ms !== undefined) deadline.arm(ms)
    const stmt = step(() => db.prepare(sql), invalid)
    assertReadOnly(stmt, sql)
    stmt.raw(true).safeIntegers(true)
    columns = stmt.columns().map((c) => ({ name: c.name, table: c.table, column: c.column }))
    const args = bindParams(sql, params)
    step(
      () => checkProgram(hooks.rootPages, db, sql, args),
      (err) => statementError(err),
    )
    iter = step(
      () =>
        hooks.eager
          ? (stmt.all(...args) as unknown[][]).values()
          : (stmt.iterate(...args) as IterableIterator<unknown[]>),
      (err) => statementError(err),
    )
    if (hooks.eager) release()
  } catch (err) {
    release()
    throw err
  }
  const value = opts.exactIntegers === true ? exactValue : normalizeValue
  let done = false
  const rows: IterableIterator<SqlValue[]> = {
    next(): IteratorResult<SqlValue[]> {
      if (done) return { done: true, value: undefined }
      let next: IteratorResult<unknown[]>
      try {
        // A step can fail late (integer overflow, interrupt): still the client's statement.
        next = step(
          () => iter.next(),
          (err) => statementError(err),
        )
      } catch (err) {
        done = true
        release()
        throw err
      }
      if (next.done === true) {
        done = true
        release()
        return { done: true, value: undefined }
      }
      return { done: false, value: next.value.map(value) }
    },
    return(): IteratorResult<SqlValue[]> {
      if (!done) {
        done = true
        iter.return?.()
        release()
      }
      return { done: true, value: undefined }
    },
    [Symbol.iterator]() {
      return this
    },
  }
  return { columns, rows }
}

/** Total rows of the given tables; names that are not replicated tables are reported, not counted. */
export function tableStats(
  ctx: StoreContext,
  tables: string[],
): { totalRowCount: number; invalidTables: string[] } {
  let total = 0
  const invalid: string[] = []
  for (const t of tables) {
    if (!ctx.tables.has(t)) {
      invalid.push(t)
      continue
    }
    total += (ctx.db.prepare(`SELECT count(*) AS n FROM ${q(t)}`).get() as { n: number }).n
  }
  return { totalRowCount: total, invalidTables: invalid }
}
