import { PatinaError, QUERY_HASH_HEADER, QUERY_ID_HEADER, SUBSCRIPTION_MAINTENANCE_HEADER } from '@patina/api'
import type { StateEngine } from '@patina/core'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import type { SubscriptionHub, SubscriptionInfo } from '../../subs/index.js'
import { toPatinaError } from '../errors.js'
import { createNdjsonSink, type NdjsonSink } from '../ndjson.js'
import type { ApiOptions, LimitedRoute } from '../options.js'
import { parseStatement } from '../statements.js'
import { parseWaitParams, waitForVersion } from '../wait.js'

/** What the subscription routes need from the app that registers them. */
export interface SubscriptionRoutesDeps {
  engine: StateEngine
  hub: SubscriptionHub
  opts: ApiOptions
  limit(route: LimitedRoute): onRequestHookHandler
  /** An NDJSON sink tied to the request (200, NDJSON content type). */
  openSink(req: FastifyRequest, reply: FastifyReply): NdjsonSink
  /** Sends the sink's stream with its headers at once. */
  sendNow(reply: FastifyReply, sink: NdjsonSink): FastifyReply
  /** Aborted when the client goes away. */
  abortOn(reply: FastifyReply): AbortSignal
}

/** `?from=` and `?skip_rows=` of the subscription routes. */
export function subParams(q: Record<string, unknown>): { from?: number; skipRows: boolean } {
  const out: { from?: number; skipRows: boolean } = { skipRows: false }
  if (q['from'] !== undefined) {
    const f = typeof q['from'] === 'string' && /^\d+$/.test(q['from']) ? Number(q['from']) : NaN
    if (!Number.isSafeInteger(f)) {
      throw new PatinaError(
        'PATINA_ERR_PARAM_INVALID',
        `from value ${JSON.stringify(q['from'])} must be a change id (integer >= 0)`,
      )
    }
    out.from = f
  }
  const s = q['skip_rows']
  if (s !== undefined) {
    if (s !== 'true' && s !== 'false' && s !== '1' && s !== '0' && s !== '') {
      throw new PatinaError(
        'PATINA_ERR_PARAM_INVALID',
        `skip_rows value ${JSON.stringify(s)} must be true or false`,
      )
    }
    out.skipRows = s === 'true' || s === '1' || s === ''
  }
  return out
}

/**
 * `POST /v1/subscriptions`, `GET /v1/subscriptions/:id` and `POST /v1/updates/:table`
 * (Corrosion's subscription API), as a fastify plugin.
 */
export async function subscriptionRoutes(app: FastifyInstance, deps: SubscriptionRoutesDeps): Promise<void> {
  const { engine, hub, opts } = deps

  const streamSub = (
    req: FastifyRequest,
    reply: FastifyReply,
    info: SubscriptionInfo,
    p: { from?: number; skipRows: boolean },
  ): FastifyReply => {
    const sink = deps.openSink(req, reply)
    void reply
      .header(QUERY_ID_HEADER, info.id)
      .header(QUERY_HASH_HEADER, info.hash)
      .header(SUBSCRIPTION_MAINTENANCE_HEADER, info.maintenance)
    hub
      .attach(info.id, sink, { ...(p.from !== undefined ? { from: p.from } : {}), skipRows: p.skipRows })
      .catch((err: unknown) => {
        sink.fail(toPatinaError(err).message)
      })
    return deps.sendNow(reply, sink)
  }

  app.post('/v1/subscriptions', { onRequest: deps.limit('subscriptions') }, async (req, reply) => {
    const q = req.query as Record<string, unknown>
    const p = subParams(q)
    const wait = parseWaitParams(q, opts)
    const stmt = parseStatement(req.body)
    if (wait) await waitForVersion(engine, wait, deps.abortOn(reply))
    const { info } = hub.upsert(stmt, { mustExist: p.from !== undefined })
    return streamSub(req, reply, info, p)
  })

  app.get<{ Params: { id: string } }>(
    '/v1/subscriptions/:id',
    { onRequest: deps.limit('subscriptions') },
    async (req, reply) => {
      const q = req.query as Record<string, unknown>
      const p = subParams(q)
      const wait = parseWaitParams(q, opts)
      if (wait) await waitForVersion(engine, wait, deps.abortOn(reply))
      const info = hub.get(req.params.id)
      if (!info) {
        throw new PatinaError(
          'PATINA_ERR_SUBSCRIPTION_NOT_FOUND',
          `could not find subscription with id ${req.params.id}`,
        )
      }
      return streamSub(req, reply, info, p)
    },
  )

  app.post<{ Params: { table: string } }>(
    '/v1/updates/:table',
    { onRequest: deps.limit('updates') },
    async (req, reply) => {
      // The table is checked before any header is set: an unknown one is a JSON 400.
      const sink = createNdjsonSink({ maxBufferBytes: opts.maxStreamBufferBytes })
      const id = hub.watchTable(req.params.table, sink)
      reply.raw.once('close', () => sink.end())
      void reply.code(200).header('content-type', 'application/x-ndjson').header(QUERY_ID_HEADER, id)
      return deps.sendNow(reply, sink)
    },
  )
}
