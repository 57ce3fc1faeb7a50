/**
 * Subscriptions (Corrosion §1.4): `POST /v1/subscriptions` creates or joins one and streams
 * it, `GET /v1/subscriptions/:id` re-attaches (`from`, `skip_rows`).
 */
import { PatinaError, QUERY_HASH_HEADER, QUERY_ID_HEADER, SUBSCRIPTION_MAINTENANCE_HEADER } from '@patina/api'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { SubscriptionInfo } from '../../subs/index.js'
import type { RouteContext } from '../context.js'
import { toPatinaError } from '../errors.js'
import { parseStatement } from '../statements.js'
import { parseWaitParams, waitForVersion } from '../wait.js'

interface SubParams {
  from?: number
  skipRows: boolean
}

/** Reads `from` and `skip_rows` from a query string. */
export function parseSubParams(q: Record<string, unknown>): SubParams {
  const out: SubParams = { skipRows: false }
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

export async function subscriptionRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { engine, subscriptions: hub } = ctx.deps
  const { opts } = ctx

  const streamSub = (reply: FastifyReply, info: SubscriptionInfo, p: SubParams): FastifyReply => {
    const sink = ctx.openSink(reply)
    void reply
      .header(QUERY_ID_HEADER, info.id)
      .header(QUERY_HASH_HEADER, info.hash)
      .header(SUBSCRIPTION_MAINTENANCE_HEADER, info.maintenance)
    hub
      .attach(info.id, sink, { ...(p.from !== undefined ? { from: p.from } : {}), skipRows: p.skipRows })
      .catch((err: unknown) => {
        sink.fail(toPatinaError(err).message)
      })
    return ctx.sendNow(reply, sink)
  }

  app.post('/v1/subscriptions', { onRequest: ctx.limit('subscriptions') }, async (req, reply) => {
    const q = req.query as Record<string, unknown>
    const p = parseSubParams(q)
    const wait = parseWaitParams(q, opts)
    const stmt = parseStatement(req.body)
    if (wait) await waitForVersion(engine, wait, ctx.abortOn(reply))
    const { info } = hub.upsert(stmt, { mustExist: p.from !== undefined })
    return streamSub(reply, info, p)
  })

  app.get<{ Params: { id: string } }>(
    '/v1/subscriptions/:id',
    { onRequest: ctx.limit('subscriptions') },
    async (req, reply) => {
      const q = req.query as Record<string, unknown>
      const p = parseSubParams(q)
      const wait = parseWaitParams(q, opts)
      if (wait) await waitForVersion(engine, wait, ctx.abortOn(reply))
      const info = hub.get(req.params.id)
      if (!info) {
        throw new PatinaError(
          'PATINA_ERR_SUBSCRIPTION_NOT_FOUND',
          `could not find subscription with id ${req.params.id}`,
        )
      }
      return streamSub(reply, info, p)
    },
  )
}
