/** `POST /v1/queries`: one read-only statement, answered as NDJSON (Corrosion §1.3). */
import type { FastifyInstance } from 'fastify'
import type { RouteContext } from '../context.js'
import { deadlineFor } from '../deadlines.js'
import { openQuery } from '../query-run.js'
import { parseStatement } from '../statements.js'
import { parseTimeoutSec, parseWaitParams, waitForVersion } from '../wait.js'

export async function queryRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { engine } = ctx.deps
  const { opts } = ctx
  app.post('/v1/queries', { onRequest: ctx.limit('queries') }, async (req, reply) => {
    const q = req.query as Record<string, unknown>
    const deadline = deadlineFor('query', parseTimeoutSec(q), ctx.deadlines)
    const wait = parseWaitParams(q, opts)
    const stmt = parseStatement(req.body)
    const gone = ctx.abortOn(reply)
    if (wait) await waitForVersion(engine, wait, gone)
    // On a read thread under its deadline: however long it runs, the main thread keeps
    // answering everything else (health, gossip, writes).
    const run = await openQuery(engine, stmt, deadline, gone, () =>
      ctx.metrics.interrupts.inc({ kind: 'query' }),
    )
    const sink = ctx.openSink(reply)
    sink.onClose(() => run.close())
    void sink.pipeFrom(run.lines).then(() => sink.end())
    return reply.send(sink.stream)
  })
}
