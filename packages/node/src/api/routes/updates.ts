/** `POST /v1/updates/:table`: primary keys of changed rows, as NDJSON (Corrosion §1.5). */
import { QUERY_ID_HEADER } from '@patina/api'
import type { FastifyInstance } from 'fastify'
import { NDJSON, type RouteContext } from '../context.js'
import { createNdjsonSink } from '../ndjson.js'

export async function updateRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const hub = ctx.deps.subscriptions
  app.post<{ Params: { table: string } }>(
    '/v1/updates/:table',
    { onRequest: ctx.limit('updates') },
    async (req, reply) => {
      const sink = createNdjsonSink({ maxBufferBytes: ctx.opts.maxStreamBufferBytes })
      const id = hub.watchTable(req.params.table, sink)
      reply.raw.once('close', () => sink.end())
      void reply.code(200).header('content-type', NDJSON).header(QUERY_ID_HEADER, id)
      return ctx.sendNow(reply, sink)
    },
  )
}
