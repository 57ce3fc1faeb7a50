import { PatinaError } from '@patina/api'
import type { AsyncQueryCursor, StateEngine, Statement } from '@patina/core'
import { deadlineMessage, type Deadline } from './deadlines.js'
import { toPatinaError } from './errors.js'
import { lines, rowJson } from './json.js'

/**
 * `POST /v1/queries` off the main thread: the statement runs on a read thread of the engine
 * (`engine.queryAsync`) under its deadline, and its rows come back in batches that are turned
 * into NDJSON lines here. An error before the first row is an HTTP error (Corrosion: 500; a
 * deadline: 408 `PATINA_ERR_TIMEOUT`); later ones end the stream with an `error` line.
 */
export interface OpenQuery {
  /** The NDJSON body: `columns`, `row`s, then `eoq` or an `error` line. */
  lines: AsyncGenerator<string>
  /** Stops the statement (the client went away); idempotent. */
  close(): void
}

export async function openQuery(
  engine: StateEngine,
  stmt: Statement,
  deadline: Deadline,
  signal: AbortSignal,
  onInterrupt: () => void,
): Promise<OpenQuery> {
  const started = process.hrtime.bigint()
  const stopped = (err: unknown): PatinaError => {
    const pe = toPatinaError(err)
    if (pe.code !== 'PATINA_ERR_TIMEOUT') return pe
    onInterrupt()
    return new PatinaError('PATINA_ERR_TIMEOUT', deadlineMessage('query', deadline), { cause: err })
  }
  let cur: AsyncQueryCursor
  try {
    cur = await engine.queryAsync(stmt.sql, stmt.params, {
      timeoutMs: deadline.ms,
      signal,
      exactIntegers: true,
    })
  } catch (err) {
    const pe = stopped(err)
    // Corrosion's exact body for writes on /v1/queries.
    if (pe.code === 'PATINA_ERR_NOT_READONLY')
      throw new PatinaError(pe.code, 'statement is not readonly', { cause: err })
    throw pe.code === 'PATINA_ERR_INTERNAL'
      ? new PatinaError('PATINA_ERR_SQL', pe.message, { cause: err })
      : pe
  }
  async function* body(): AsyncGenerator<string> {
    try {
      yield lines.columns(cur.columns.map((c) => c.name))
      let rowid = 0
      for (;;) {
        let next: IteratorResult<unknown[][]>
        try {
          next = await cur.batches.next()
        } catch (err) {
          yield lines.error(stopped(err).message)
          return
        }
        if (next.done === true) break
        // One string per batch: the sink writes (and waits for the client) per line it is given.
        let chunk = ''
        for (const row of next.value) chunk += lines.row(++rowid, rowJson(row as never))
        if (chunk !== '') yield chunk
      }
      yield lines.eoq(Number(process.hrtime.bigint() - started) / 1e9)
    } finally {
      cur.close()
    }
  }
  return { lines: body(), close: () => cur.close() }
}
