/** `POST /v1/queries`: one read-only statement, answered as NDJSON (Corrosion §1.3). */
import { PatinaError } from '@patina/api'
import type { QueryCursor } from '@patina/core'
import type { FastifyInstance } from 'fastify'
import type { RouteContext } from '../context.js'
import { toPatinaError } from '../errors.js'
import { lines, rowJson } from '../json.js'
import { parseStatement } from '../statements.js'
import { parseTimeoutSec, parseWaitParams, waitForVersion } from '../wait.js'

export async function queryRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { engine } = ctx.deps
  const { opts } = ctx
  app.post('/v1/queries', { onRequest: ctx.limit('queries') }, async (req, reply) => {
    const q = req.query as Record<string, unknown>
    const timeoutSec = parseTimeoutSec(q) ?? opts.defaultQueryTimeoutSec
    const wait = parseWaitParams(q, opts)
    const stmt = parseStatement(req.body)
    if (wait) await waitForVersion(engine, wait, ctx.abortOn(reply))
    const started = process.hrtime.bigint()
    let cur: QueryCursor
    try {
      cur = engine.query(stmt.sql, stmt.params, { exactIntegers: true })
    } catch (err) {
      const pe = toPatinaError(err)
      // Corrosion's exact body for writes on /v1/queries.
      throw pe.code === 'PATINA_ERR_NOT_READONLY'
        ? new PatinaError(pe.code, 'statement is not readonly', { cause: err })
        : pe
    }
    // An error before the first row is an HTTP error (Corrosion: 500); later ones are events.
    let first: IteratorResult<unknown[]>
    try {
      first = cur.rows.next()
    } catch (err) {
      const pe = toPatinaError(err)
      throw pe.code === 'PATINA_ERR_INTERNAL'
        ? new PatinaError('PATINA_ERR_SQL', pe.message, { cause: err })
        : pe
    }
    const deadline = timeoutSec > 0 ? started + BigInt(timeoutSec) * 1_000_000_000n : null
    const sink = ctx.openSink(reply)
    async function* body(): AsyncGenerator<string> {
      try {
        yield lines.columns(cur.columns.map((c) => c.name))
        let rowid = 0
        let next = first
        while (!next.done) {
          yield lines.row(++rowid, rowJson(next.value as never))
          if (deadline !== null && process.hrtime.bigint() > deadline) {
            yield lines.error(`query timed out after ${timeoutSec} s (timeout=${timeoutSec})`)
            return
          }
          try {
            next = cur.rows.next()
          } catch (err) {
            yield lines.error(toPatinaError(err).message)
            return
          }
        }
        yield lines.eoq(Number(process.hrtime.bigint() - started) / 1e9)
      } finally {
        cur.rows.return?.()
      }
    }
    void sink.pipeFrom(body()).then(() => sink.end())
    return reply.send(sink.stream)
  })
}
