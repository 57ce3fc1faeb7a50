/**
 * The Corrosion-compatible HTTP API as a fastify instance: body parsing, the endpoint-name and
 * bearer-token checks, the error handler, and one plugin per route family (`routes/*.ts`).
 * It never listens: `server.ts` serves it over HTTP/1.1 and h2c, tests call `app.inject`.
 */
import { timingSafeEqual } from 'node:crypto'
import { PatinaError } from '@patina/api'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { createRouteContext, type ApiDeps } from './context.js'
import { installErrorHandler } from './errors.js'
import { parseJsonBody } from './json-body.js'
import { createApiOptions, type ApiOptionsInit, type TokenRole } from './options.js'
import { clusterRoutes } from './routes/cluster.js'
import { healthRoutes } from './routes/health.js'
import { queryRoutes } from './routes/queries.js'
import { subscriptionRoutes } from './routes/subscriptions.js'
import { tableStatsRoutes } from './routes/table-stats.js'
import { transactionRoutes } from './routes/transactions.js'
import { updateRoutes } from './routes/updates.js'
import { componentLogger } from '../runtime/log.js'

export type { ApiDeps } from './context.js'

declare module 'fastify' {
  interface FastifyRequest {
    patinaRole: TokenRole | null
  }
}

/** Request header naming the endpoint a client meant to reach (Corrosion's `api.endpoint_name`). */
export const ENDPOINT_NAME_HEADER = 'x-corrosion-requested-endpoint-name'

/**
 * Builds the API. Every route plugin gets the same {@link RouteContext}; hooks added here
 * (endpoint name, auth, metrics) apply to all of them.
 */
export function buildApi(deps: ApiDeps, init: ApiOptionsInit = {}): FastifyInstance {
  const opts = createApiOptions(init)
  const ctx = createRouteContext(deps, opts)
  const { metrics } = ctx
  const app = Fastify({
    loggerInstance: componentLogger(deps.logger, 'api') as FastifyBaseLogger,
    // Per-request log lines are off; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimitBytes,
  })

  // Bodies: JSON whatever the content type says (Corrosion's clients do not always send one),
  // through the one parser that keeps integers exact and bounds nesting; an empty body is
  // `undefined` (`/v1/updates/:table` has none).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8')
    if (text.trim() === '') return done(null, undefined)
    try {
      done(null, parseJsonBody(text))
    } catch (err) {
      done(err as Error)
    }
  })

  installErrorHandler(app, { execRoute: '/v1/transactions', actorId: deps.engine.actorId })

  // ---------------------------------------------------------------- endpoint name, then auth
  // Corrosion checks the endpoint name first (421), then the bearer token (401, empty body).
  if (opts.endpointName !== undefined) {
    const name = opts.endpointName
    app.addHook('onRequest', async (req) => {
      const asked = req.headers[ENDPOINT_NAME_HEADER]
      if (asked === undefined) return
      const value = Array.isArray(asked) ? asked.join(',') : asked
      if (value !== name) {
        metrics.refused.inc({ reason: 'misdirected' })
        throw new PatinaError(
          'PATINA_ERR_MISDIRECTED',
          `this endpoint is ${JSON.stringify(name)}; the request asked for ${JSON.stringify(value)} (${ENDPOINT_NAME_HEADER})`,
        )
      }
    })
  }

  app.decorateRequest('patinaRole', null)
  const tokens = opts.tokens.map((t) => ({ buf: Buffer.from(t.token), role: t.role }))
  app.addHook('onRequest', async (req, reply) => {
    if (tokens.length === 0) {
      req.patinaRole = 'write'
      return
    }
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')
    const given = m ? Buffer.from((m[1] as string).trim()) : null
    const found = given
      ? tokens.find((t) => t.buf.length === given.length && timingSafeEqual(t.buf, given))
      : undefined
    if (!found) {
      metrics.refused.inc({ reason: 'unauthorized' })
      return reply.code(401).send()
    }
    req.patinaRole = found.role
  })

  app.addHook('onResponse', async (req, reply) => {
    metrics.requests.inc({ route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) })
  })

  // ---------------------------------------------------------------- routes
  void app.register(transactionRoutes, ctx)
  void app.register(queryRoutes, ctx)
  void app.register(subscriptionRoutes, ctx)
  void app.register(updateRoutes, ctx)
  void app.register(tableStatsRoutes, ctx)
  void app.register(healthRoutes, ctx)
  void app.register(clusterRoutes, ctx)

  return app
}
