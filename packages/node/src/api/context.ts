/**
 * What every route plugin of the API shares: the node's dependencies, the validated options,
 * the per-route concurrency limits, the write-token check and the NDJSON stream plumbing.
 * `buildApi` makes one and hands it to each plugin of `routes/` as its options.
 */
import { CONCURRENCY_LIMIT_BODY, PatinaError, type MemberInfo } from '@patina/api'
import type { StateEngine } from '@patina/core'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { Counter, Registry } from 'prom-client'
import { counterIn } from '../runtime/metric-registry.js'
import type { SubscriptionHub } from '../subs/hub.js'
import { statementInterrupts, type DeadlineLimits } from './deadlines.js'
import type { HealthSnapshot } from './routes/health.js'
import { createNdjsonSink, type NdjsonSink } from './ndjson.js'
import type { ApiOptions, LimitedRoute } from './options.js'

/** What the HTTP API needs from the node. */
export interface ApiDeps {
  engine: StateEngine
  logger: Logger
  /** Registry served by `GET /metrics`; the API registers its own `patina_api_*` metrics on it. */
  registry: Registry
  /** The cluster view of `GET /v1/cluster/members` (and the `members` count of `/v1/health`: state `alive`). */
  members(): MemberInfo[]
  /**
   * Apply-queue length and p99 commit lag (seconds) for `/v1/health`, and isolation. A null
   * lag makes health fail with Corrosion's `no p99 lag information available`; report 0 when
   * the node is simply idle.
   */
  health(): HealthSnapshot
  /** The live subscriptions hub (`createSubscriptionHub`), also serving `/v1/updates/:table`. */
  subscriptions: SubscriptionHub
}

export interface ApiMetrics {
  requests: Counter<'route' | 'status'>
  refused: Counter<'reason'>
  /** Client statements stopped at their deadline, by kind (`patina_statement_interrupts_total`). */
  interrupts: Counter<'kind'>
}

/** The options of every route plugin. */
export interface RouteContext {
  deps: ApiDeps
  opts: Readonly<ApiOptions>
  metrics: ApiMetrics
  /** The limits every client statement's deadline is chosen from (`deadlines.ts`). */
  deadlines: DeadlineLimits
  /** An `onRequest` hook enforcing the concurrency limit of `route` (503 as Corrosion). */
  limit(route: LimitedRoute): (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>
  /** A `preHandler` refusing read-only tokens with 403. */
  requireWrite(req: FastifyRequest): Promise<void>
  /** An NDJSON sink tied to the response: ended when the client goes away; sets status 200 and the content type. */
  openSink(reply: FastifyReply): NdjsonSink
  /**
   * Sends a stream body and its headers at once: fastify would hold the headers until the
   * first line, and an updates or `skip_rows` stream may have none for a long time.
   */
  sendNow(reply: FastifyReply, sink: NdjsonSink): FastifyReply
  /** Aborted when the client goes away before the response is complete. */
  abortOn(reply: FastifyReply): AbortSignal
}

export const NDJSON = 'application/x-ndjson'

export function createRouteContext(deps: ApiDeps, opts: Readonly<ApiOptions>): RouteContext {
  const metrics = apiMetrics(deps.registry)
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

  const requireWrite = async (req: FastifyRequest): Promise<void> => {
    if (req.patinaRole !== 'write') {
      metrics.refused.inc({ reason: 'forbidden' })
      throw new PatinaError(
        'PATINA_ERR_FORBIDDEN',
        `a read-only token cannot ${req.method} ${req.url}; use a write token`,
      )
    }
  }

  const openSink = (reply: FastifyReply): NdjsonSink => {
    const sink = createNdjsonSink({ maxBufferBytes: opts.maxStreamBufferBytes })
    reply.raw.once('close', () => sink.end())
    sink.onClose(() => {
      if (!sink.stream.writableEnded) sink.stream.end()
    })
    void reply.code(200).header('content-type', NDJSON)
    return sink
  }

  const sendNow = (reply: FastifyReply, sink: NdjsonSink): FastifyReply => {
    void reply.send(sink.stream)
    const raw = reply.raw as { headersSent: boolean; destroyed: boolean; flushHeaders?: () => void }
    if (!raw.headersSent && !raw.destroyed) raw.flushHeaders?.()
    return reply
  }

  // On Node 20 the request stream emits 'close' as soon as its body has been read, so the
  // response side is what tells a disconnect.
  const abortOn = (reply: FastifyReply): AbortSignal => {
    const ac = new AbortController()
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) ac.abort()
    })
    return ac.signal
  }

  const deadlines: DeadlineLimits = {
    queryDefaultSecs: opts.defaultQueryTimeoutSec,
    maxSecs: opts.maxTimeoutSec,
    mainThreadMaxMs: opts.mainThreadMaxMs,
  }

  return { deps, opts, metrics, deadlines, limit, requireWrite, openSink, sendNow, abortOn }
}

function apiMetrics(registry: Registry): ApiMetrics {
  return {
    requests: counterIn(registry, {
      name: 'patina_api_requests_total',
      help: 'HTTP API requests answered, by route and status',
      labelNames: ['route', 'status'],
    }),
    refused: counterIn(registry, {
      name: 'patina_api_refused_total',
      help: 'HTTP API requests refused before reaching a handler, by reason (unauthorized, forbidden, misdirected, concurrency)',
      labelNames: ['reason'],
    }),
    interrupts: statementInterrupts(registry),
  }
}
