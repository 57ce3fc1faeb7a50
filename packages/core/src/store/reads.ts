import { PatinaError } from '@patina/api'
import type { SqlValue } from '@patina/api'
import type { Statement as DbStatement } from 'better-sqlite3'
import { normalizeValue } from '../crdt/values.js'
import { leadingKeyword } from '../schema/split.js'
import type { QueryCursor, QueryOptions, Statement } from '../types.js'
import type { StoreContext } from './context.js'
import { isInterrupt, timeoutError } from './deadline.js'
import { bindParams, statementError } from './driver.js'
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
 * Runs one read-only statement; rows stream lazily and the connection returns to the pool when
 * they end (or when the caller calls `rows.return()`). The deadline is armed once for the
 * statement's whole life on its read connection.
 *
 * `:memory:` databases (tests) have no read connections: the statement runs on the writer, all
 * at once under its deadline, so that no statement of the writer stays open between calls.
 */
export function query(
  ctx: StoreContext,
  sql: string,
  params?: Statement['params'],
  opts: QueryOptions = {},
): QueryCursor {
  const reader = ctx.readers?.acquire()
  const conn = reader?.db ?? ctx.db
  const guard = reader?.deadline ?? ctx.writer.deadline
  const ms = opts.timeoutMs
  let open = true
  const release = (): void => {
    if (!open) return
    open = false
    if (ms !== undefined && conn.open) guard.disarm()
    if (reader !== undefined) ctx.readers?.release(reader)
  }
  /** Runs a step of the statement; an interrupt is its deadline. */
  const step = <T>(fn: () => T, toError: (err: unknown) => PatinaError): T => {
    try {
      return fn()
    } catch (err) {
      if (ms !== undefined && isInterrupt(err)) {
        ctx.interrupts++
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
    if (ms !== undefined) guard.arm(ms)
    const stmt = step(() => conn.prepare(sql), invalid)
    assertReadOnly(stmt, sql)
    stmt.raw(true).safeIntegers(true)
    columns = stmt.columns().map((c) => ({ name: c.name, table: c.table, column: c.column }))
    const args = bindParams(params)
    iter = step(
      () =>
        reader === undefined
          ? (stmt.all(...args) as unknown[][]).values()
          : (stmt.iterate(...args) as IterableIterator<unknown[]>),
      (err) => statementError(err),
    )
    if (reader === undefined) release()
  } catch (err) {
    release()
    throw err
  }
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
      return { done: false, value: next.value.map(normalizeValue) }
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
