import { timingSafeEqual } from 'node:crypto'
import {
  CONCURRENCY_LIMIT_BODY,
  PatinaError,
  type ExecResponse,
  type MemberInfo,
  type TableStatsResponse,
} from '@patina/api'
import type { QueryCursor, StateEngine } from '@patina/core'
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify'
import type { Logger } from 'pino'
import { Counter, type Registry } from 'prom-client'
import type { SubscriptionHub } from '../subs/index.js'
import { installErrorHandler, toPatinaError } from './errors.js'
import { evaluateHealth, parseHealthThresholds } from './health.js'
import { lines, rowJson } from './json.js'
import { createNdjsonSink, type NdjsonSink } from './ndjson.js'
import { createApiOptions, type ApiOptionsInit, type LimitedRoute, type TokenRole } from './options.js'
import { subscriptionRoutes } from './routes/subscriptions.js'
import { parseStatement } from './statements.js'
import { parseTimeoutSec, parseWaitParams, waitForVersion } from './wait.js'

/** What the HTTP API needs from the node. */
export interface ApiDeps {
  engine: StateEngine
  logger: Logger
  /** Registry served by `GET /metrics`; the API registers its own `patina_api_*` metrics on it. */
  registry: Registry
  /** The cluster view of `GET /v1/cluster/members` (and the `members` count of `/v1/health`: state `alive`). */
  members(): MemberInfo[]
  /**
   * Apply-queue length and p99 commit lag (seconds) for `/v1/health`. A null lag makes health
   * fail with Corrosion's `no p99 lag information available`; report 0 when the node is
   * simply idle.
   */
  health(): { queueSize: number; p99LagSec: number | null }
  /** The live subscriptions hub (`createSubscriptionHub`), also serving `/v1/updates/:table`. */
  subscriptions: SubscriptionHub
}

declare module 'fastify' {
  interface FastifyRequest {
    patinaRole: TokenRole | null
  }
}

const NDJSON = 'application/x-ndjson'

/**
 * Builds the Corrosion-compatible HTTP API as a fastify instance. It never listens: the agent
 * calls `listen`, tests call `app.inject`.
 */
export function buildApi(deps: ApiDeps, init: ApiOptionsInit = {}): FastifyInstance {
  const opts = createApiOptions(init)
  const { engine, subscriptions: hub } = deps
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'api' }) as FastifyBaseLogger,
    // Per-request log lines are off; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimitBytes,
  })
  const metrics = apiMetrics(deps.registry)

  // Bodies: JSON whatever the content type says (Corrosion's clients do not always send one);
  // an empty body is `undefined` (`/v1/updates/:table` has none).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8')
    if (text.trim() === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text))
    } catch (err) {
      done(
        new PatinaError(
          'PATINA_ERR_BODY_INVALID',
          `request body is not valid JSON: ${(err as Error).message}`,
        ),
      )
    }
  })

  installErrorHandler(app, { execRoute: '/v1/transactions', actorId: engine.actorId })

  // ---------------------------------------------------------------- auth
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
  const requireWrite = async (req: FastifyRequest): Promise<void> => {
    if (req.patinaRole !== 'write') {
      metrics.refused.inc({ reason: 'forbidden' })
      throw new PatinaError(
        'PATINA_ERR_FORBIDDEN',
        `a read-only token cannot ${req.method} ${req.url}; use a write token`,
      )
    }
  }

  // ---------------------------------------------------------------- concurrency limits
  const inFlight = new Map<LimitedRoute, number>()
  const limit = (route: LimitedRoute) => async (req: FastifyRequest, reply: FastifyReply) => {
    const n = inFlight.get(route) ?? 0
    if (n >= opts.concurrency[route]) {
      metrics.refused.inc({ reason: 'concurrency' })
      return reply.code(503).type('text/plain; charset=utf-8').send(CONCURRENCY_LIMIT_BODY)
    }
    inFlight.set(route, n + 1)
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      inFlight.set(route, (inFlight.get(route) ?? 1) - 1)
    }
    reply.raw.once('close', release)
    reply.raw.once('finish', release)
    req.raw.once('close', () => {
      if (reply.raw.writableEnded) release()
    })
  }

  app.addHook('onResponse', async (req, reply) => {
    metrics.requests.inc({ route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) })
  })

  /** An NDJSON sink tied to the request: closed when the client goes away. */
  const openSink = (req: FastifyRequest, reply: FastifyReply): NdjsonSink => {
    const sink = createNdjsonSink({ maxBufferBytes: opts.maxStreamBufferBytes })
    reply.raw.once('close', () => sink.end())
    sink.onClose(() => {
      if (!sink.stream.writableEnded) sink.stream.end()
    })
    void reply.code(200).header('content-type', NDJSON)
    void req
    return sink
  }

  /**
   * Sends a stream body and its headers at once: fastify would hold the headers until the
   * first line, and an updates or `skip_rows` stream may have none for a long time.
   */
  const sendNow = (reply: FastifyReply, sink: NdjsonSink): FastifyReply => {
    void reply.send(sink.stream)
    if (!reply.raw.headersSent && !reply.raw.destroyed) reply.raw.flushHeaders()
    return reply
  }

  /**
   * Aborted when the client goes away before the response is complete. (On Node 20 the
   * request stream emits 'close' — destroyed — as soon as its body has been read, so the
   * response side is what tells a disconnect.)
   */
  const abortOn = (reply: FastifyReply): AbortSignal => {
    const ac = new AbortController()
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) ac.abort()
    })
    return ac.signal
  }

  // ---------------------------------------------------------------- routes
  app.post(
    '/v1/transactions',
    { onRequest: limit('transactions'), preHandler: requireWrite },
    async (req, reply) => {
      const timeoutSec = parseTimeoutSec(req.query as Record<string, unknown>)
      const body = req.body
      if (!Array.isArray(body)) {
        throw new PatinaError('PATINA_ERR_BODY_INVALID', 'request body must be a JSON array of statements')
      }
      if (body.length === 0)
        throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', 'at least 1 statement is required')
      if (body.length > opts.maxStatementsPerTransaction) {
        throw new PatinaError(
          'PATINA_ERR_TOO_MANY_STATEMENTS',
          `request has ${body.length} statements; api.maxStatementsPerTransaction allows ${opts.maxStatementsPerTransaction}`,
        )
      }
      const stmts = body.map((s, i) => parseStatement(s, i))
      let res
      try {
        res = engine.transaction(stmts, timeoutSec ? { timeoutMs: timeoutSec * 1000 } : undefined)
      } catch (err) {
        // Corrosion answers 500 for every SQL failure of a transaction, prepare errors included.
        const pe = toPatinaError(err)
        throw pe.code === 'PATINA_ERR_STATEMENT_INVALID'
          ? new PatinaError('PATINA_ERR_SQL', pe.message, { cause: err })
          : pe
      }
      const out: ExecResponse = {
        results: res.results.map((r) => ({ rows_affected: r.rowsAffected, time: r.time })),
        time: res.time,
        version: res.version,
        actor_id: res.actorId,
      }
      return reply.code(200).send(out)
    },
  )

  app.post('/v1/queries', { onRequest: limit('queries') }, async (req, reply) => {
    const q = req.query as Record<string, unknown>
    const timeoutSec = parseTimeoutSec(q) ?? opts.defaultQueryTimeoutSec
    const wait = parseWaitParams(q, opts)
    const stmt = parseStatement(req.body)
    if (wait) await waitForVersion(engine, wait, abortOn(reply))
    const started = process.hrtime.bigint()
    let cur: QueryCursor
    try {
      cur = engine.query(stmt.sql, stmt.params)
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
    const sink = openSink(req, reply)
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

  void app.register(subscriptionRoutes, { engine, hub, opts, limit, openSink, sendNow, abortOn })

  app.post('/v1/table_stats', { onRequest: limit('table_stats') }, async (req, reply) => {
    const body = req.body as { tables?: unknown } | undefined
    if (
      body === null ||
      typeof body !== 'object' ||
      !Array.isArray(body.tables) ||
      !body.tables.every((t): t is string => typeof t === 'string')
    ) {
      throw new PatinaError('PATINA_ERR_BODY_INVALID', 'request body must be {"tables": ["table", ...]}')
    }
    const wait = parseWaitParams(req.query as Record<string, unknown>, opts)
    if (wait) await waitForVersion(engine, wait, abortOn(reply))
    try {
      const s = engine.tableStats(body.tables)
      return reply.send({
        total_row_count: s.totalRowCount,
        invalid_tables: s.invalidTables,
      } satisfies TableStatsResponse)
    } catch (err) {
      req.log.error({ err }, 'table_stats failed')
      return reply.code(500).send({ total_row_count: 0, invalid_tables: [] } satisfies TableStatsResponse)
    }
  })

  app.get('/v1/health', { onRequest: limit('health') }, async (req, reply) => {
    const t = parseHealthThresholds(req.query as Record<string, unknown>)
    let facts
    try {
      const h = deps.health()
      facts = {
        gaps: engine.stats().gaps,
        members: deps.members().filter((m) => m.state === 'alive').length,
        p99LagSec: h.p99LagSec,
        queueSize: h.queueSize,
      }
    } catch (err) {
      return reply.code(500).send({ error: toPatinaError(err).message })
    }
    const { status, body } = evaluateHealth(facts, t)
    return reply.code(status).send(body)
  })

  app.get('/v1/cluster/members', async (_req, reply) => reply.send({ members: deps.members() }))

  app.get('/metrics', async (_req, reply) => {
    const text = await deps.registry.metrics()
    return reply.type(deps.registry.contentType).send(text)
  })

  return app
}

function apiMetrics(registry: Registry): {
  requests: Counter<'route' | 'status'>
  refused: Counter<'reason'>
} {
  const get = <T>(name: string, make: () => T): T =>
    (registry.getSingleMetric(name) as T | undefined) ?? make()
  return {
    requests: get(
      'patina_api_requests_total',
      () =>
        new Counter({
          name: 'patina_api_requests_total',
          help: 'HTTP API requests answered, by route and status',
          labelNames: ['route', 'status'],
          registers: [registry],
        }),
    ),
    refused: get(
      'patina_api_refused_total',
      () =>
        new Counter({
          name: 'patina_api_refused_total',
          help: 'HTTP API requests refused before reaching a handler, by reason (unauthorized, forbidden, concurrency)',
          labelNames: ['reason'],
          registers: [registry],
        }),
    ),
  }
}
