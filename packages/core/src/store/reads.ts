import { PatinaError } from '@patina/api'
import type { SqlValue } from '@patina/api'
import type { Statement as DbStatement } from 'better-sqlite3'
import { exactValue, normalizeValue } from '../crdt/values.js'
import { leadingKeyword } from '../schema/split.js'
import type { QueryCursor, QueryOptions, Statement } from '../types.js'
import type { StoreContext } from './context.js'
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
 * Query texts whose `EXPLAIN` program was checked (no internal table or function), per schema:
 * the key is the context's root-page map, replaced at every schema change.
 */
const checked = new WeakMap<ReadonlyMap<number, string>, Set<string>>()
const MAX_CHECKED = 512
const MAX_CHECKED_SQL_CHARS = 4096

/** Refuses a query that calls an internal function or reads an internal table (see `explain.ts`). */
function checkProgram(ctx: StoreContext, conn: StoreContext['db'], sql: string, args: unknown[]): void {
  let seen = checked.get(ctx.rootPages)
  if (seen === undefined) checked.set(ctx.rootPages, (seen = new Set()))
  if (seen.has(sql)) return
  refuseInternals(programFacts(explain(conn, sql, args), ctx.rootPages), '')
  if (sql.length > MAX_CHECKED_SQL_CHARS) return
  if (seen.size >= MAX_CHECKED) seen.clear()
  seen.add(sql)
}

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
    const args = bindParams(sql, params)
    checkProgram(ctx, conn, sql, args)
    iter = stmt.iterate(...args) as IterableIterator<unknown[]>
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
