import { PatinaError } from '@patina/api'
import type { SqlValue } from '@patina/api'
import type { Statement as DbStatement } from 'better-sqlite3'
import { exactValue, normalizeValue } from '../crdt/values.js'
import { leadingKeyword } from '../schema/split.js'
import type { QueryCursor, QueryOptions, Statement } from '../types.js'
import type { StoreContext } from './context.js'
import { bindParams, statementError } from './driver.js'
import { q } from './schema-store.js'

/**
 * Client reads. A query runs on a read connection of its own for as long as its rows are being
 * iterated (better-sqlite3 cannot run another statement on a connection while one iterates),
 * so a slow reader never blocks writes or other reads.
 */

const READ_KEYWORDS = new Set(['SELECT', 'WITH', 'VALUES'])

/** Runs one read-only statement; rows stream lazily and the connection returns to the pool when they end. */
export function query(
  ctx: StoreContext,
  sql: string,
  params?: Statement['params'],
  opts: QueryOptions = {},
): QueryCursor {
  const conn = ctx.readers?.acquire() ?? ctx.db
  const release = () => {
    if (conn !== ctx.db) ctx.readers?.release(conn)
  }
  let stmt: DbStatement
  try {
    stmt = conn.prepare(sql)
  } catch (err) {
    release()
    throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', (err as Error).message)
  }
  // Preparing has no effect; SQLite's syntax errors come first (as in Corrosion). ATTACH and
  // PRAGMA reads count as read-only for SQLite, so the leading keyword is checked too.
  const kw = leadingKeyword(sql)
  if (!stmt.readonly || !stmt.reader || !READ_KEYWORDS.has(kw)) {
    release()
    throw new PatinaError(
      'PATINA_ERR_NOT_READONLY',
      READ_KEYWORDS.has(kw) || !stmt.readonly
        ? 'statement is not readonly'
        : `statement is not readonly: ${kw} statements are not allowed in queries`,
    )
  }
  stmt.raw(true).safeIntegers(true)
  const columns = stmt.columns().map((c) => ({ name: c.name, table: c.table, column: c.column }))
  let iter: IterableIterator<unknown[]>
  try {
    iter = stmt.iterate(...bindParams(sql, params)) as IterableIterator<unknown[]>
  } catch (err) {
    release()
    throw statementError(err)
  }
  const value = opts.exactIntegers === true ? exactValue : normalizeValue
  function* rows(): Generator<SqlValue[]> {
    try {
      for (;;) {
        let next: IteratorResult<unknown[]>
        try {
          next = iter.next()
        } catch (err) {
          // A step can fail late (integer overflow, interrupt): still the client's statement.
          throw statementError(err)
        }
        if (next.done === true) return
        yield next.value.map(value)
      }
    } finally {
      iter.return?.()
      release()
    }
  }
  return { columns, rows: rows() }
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
