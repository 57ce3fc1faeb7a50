import type {
  ExecResponse,
  HealthResponse,
  JsonParam,
  JsonStatement,
  MembersResponse,
  TableStatsResponse,
  WaitFor,
} from '@patina/api'
import type { Dispatcher } from 'undici'
import { PatinaClientError } from './errors.js'
import { createHttpTransport, errorFromResponse, type HttpResponse, type QueryParams } from './http.js'
import { NDJSON_DEFAULTS } from './ndjson.js'
import { createWorkerPool, POOL_DEFAULTS, type WorkerPool, type WorkerPoolOptions } from './pool.js'
import {
  createQueryStream,
  createSubscriptionStream,
  createUpdatesStream,
  type QueryResult,
  type QueryStream,
  type SubscriptionStream,
  type UpdatesStream,
} from './streams.js'
import { createLiveSubscription, type LiveSubscription, type WatchOptions } from './live.js'
import type { WorkerStatus } from './workers.js'
import type { SwitchPolicy } from './workers.js'
import { componentLogger } from './log.js'

/** Minimal logger interface (pino's `Logger` fits). */
export interface ClientLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  child(bindings: Record<string, unknown>): ClientLogger
}

export interface ClientOptions {
  /** One worker's base URL, e.g. `http://127.0.0.1:8080`. Either `url` or `workers` is required. */
  url?: string
  /** Several workers' base URLs (or `host:port`), most preferred first until probes measure RTT. */
  workers?: string[]
  /** Also use the workers listed by `GET /v1/cluster/members` (their `api_addr`). Default false. */
  discover?: boolean
  /** Bearer token for `Authorization: Bearer <token>`. */
  token?: string
  /** Extra headers on every request. */
  headers?: Record<string, string>
  /** Default deadline of a request in milliseconds (for a stream: until its headers; for a query: the whole answer). 0 = none. Default 30 000. */
  timeoutMs?: number
  /** TCP connect timeout in milliseconds. Default 10 000. */
  connectTimeoutMs?: number
  /** Longest accepted NDJSON line in bytes. Default 8 MiB. */
  maxLineBytes?: number
  /** Time between health probes of every worker while a live subscription runs, in milliseconds. Default 2 000. */
  probeIntervalMs?: number
  /** Health probe timeout in milliseconds. Default 2 000. */
  probeTimeoutMs?: number
  /** Consecutive failed probes before a worker counts as down. Default 2. */
  downAfterProbeFailures?: number
  /** Time between membership discoveries in milliseconds (with `discover`). Default 10 000. */
  discoveryIntervalMs?: number
  /** Hysteresis for moving to a nearer worker. Default `{ switchMarginMs: 5, switchRatio: 0.7 }`. */
  switchPolicy?: SwitchPolicy
  /** Logger (pino); the client logs with `component: 'client'`. */
  logger?: ClientLogger
  /** Wall clock in milliseconds (tests). Default `Date.now`. */
  now?: () => number
  /** Random numbers in [0, 1) for backoff jitter (tests). Default `Math.random`. */
  random?: () => number
  /** An undici dispatcher to send requests through instead of the client's own `Agent`. */
  dispatcher?: Dispatcher
}

/** Defaults of {@link ClientOptions}. */
export const CLIENT_DEFAULTS = Object.freeze({
  timeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  maxLineBytes: NDJSON_DEFAULTS.maxLineBytes,
  ...POOL_DEFAULTS,
})

/** Options every call accepts. */
export interface CallOptions {
  /** Aborts the request (the promise or stream rejects with the signal's reason). */
  signal?: AbortSignal
  /** Deadline in milliseconds; overrides the client's `timeoutMs`. 0 = none. */
  timeoutMs?: number
  /** Send to this worker URL instead of the pool's best one. */
  worker?: string
}

/** Read-your-writes: make the worker wait until a write is applied before answering. */
export interface ReadYourWritesOptions {
  /** `{ actor_id, version }` of a write (see {@link waitForWrite}). */
  waitFor?: WaitFor
  /** How long the worker may wait for it, in milliseconds (`wait_timeout_ms`); the server's default otherwise. */
  waitTimeoutMs?: number
}

export interface QueryOptions extends CallOptions, ReadYourWritesOptions {}

export interface SubscribeOptions extends CallOptions, ReadYourWritesOptions {
  /** Replay only changes after this change id (`from`). */
  from?: number
  /** Send only changes, no `columns`/`row`/`eoq` (`skip_rows=true`). */
  skipRows?: boolean
  /** Fail the stream with `PATINA_ERR_TIMEOUT` after this many milliseconds without a byte. 0 = never (default). */
  idleTimeoutMs?: number
}

/** `GET /v1/health` thresholds (Corrosion's query parameters). */
export interface HealthThresholds {
  /** Unhealthy above this many missing versions (`gaps`). */
  gaps?: number
  /** Unhealthy above this p99 apply lag in seconds (`p99_lag`). */
  p99LagS?: number
  /** Unhealthy above this apply-queue length (`max_queue`). */
  maxQueue?: number
  /** With `p99LagS`: only unhealthy when the queue is also longer than this (`queue_size`). */
  queueSize?: number
  /** Status to answer with when unhealthy (`failure_status`, default 503). */
  failureStatus?: number
}

/** The answer of `GET /v1/health`: 2xx or not, never thrown for a non-2xx status. */
export interface HealthResult {
  ok: boolean
  httpStatus: number
  /** The health numbers, when the server sent them. */
  health: HealthResponse['response'] | null
  /** The server's error message, when it sent one. */
  error: string | null
}

/**
 * A typed client for the worker HTTP API (Corrosion-compatible, plus Patina's additions).
 * Every method takes {@link CallOptions}; errors are {@link PatinaClientError}.
 */
export interface PatinaClient {
  /** `POST /v1/transactions`: runs the statements in one transaction. Throws `PATINA_ERR_HTTP` with the server's message when it fails. */
  transaction(statements: JsonStatement[], opts?: CallOptions): Promise<ExecResponse>
  /** `POST /v1/queries`: resolves once the answer starts (HTTP errors reject here); iterate the stream for rows. */
  query(statement: JsonStatement, opts?: QueryOptions): Promise<QueryStream>
  /** `query` then `collect()`: the whole answer in memory. */
  queryAll(statement: JsonStatement, opts?: QueryOptions): Promise<QueryResult>
  /** `POST /v1/subscriptions`: the raw stream (snapshot, then changes). No reconnection: see {@link PatinaClient.watch}. */
  subscribe(statement: JsonStatement, opts?: SubscribeOptions): Promise<SubscriptionStream>
  /** `GET /v1/subscriptions/:id`: re-attaches to a subscription, e.g. with `from` after a dropped connection. */
  subscription(id: string, opts?: SubscribeOptions): Promise<SubscriptionStream>
  /** `POST /v1/updates/:table`: primary-key notifications. */
  updates(table: string, opts?: CallOptions): Promise<UpdatesStream>
  /** `POST /v1/table_stats`. */
  tableStats(tables: string[], opts?: CallOptions): Promise<TableStatsResponse>
  /** `GET /v1/health` with optional thresholds; a non-2xx answer is returned, not thrown. */
  health(thresholds?: HealthThresholds, opts?: CallOptions): Promise<HealthResult>
  /** `GET /v1/cluster/members` (Patina addition). */
  members(opts?: CallOptions): Promise<MembersResponse>
  /**
   * A live subscription: an async iterator of row changes and a materialized view that stays
   * up to date across dropped connections and worker failures. See {@link LiveSubscription}.
   */
  watch(statement: JsonStatement, opts?: WatchOptions): LiveSubscription
  watch(sql: string, params: JsonParam[] | Record<string, JsonParam>, opts?: WatchOptions): LiveSubscription
  /** The workers, best first, with their measured state. */
  workers(): WorkerStatus[]
  /** The worker pool (probing, ranking). */
  readonly pool: WorkerPool
  /** Closes every live subscription and the connection pool. */
  close(): Promise<void>
}

/** The read-your-writes token of a transaction result, or undefined when it changed nothing. */
export function waitForWrite(res: ExecResponse): WaitFor | undefined {
  return res.version === null ? undefined : { actor_id: res.actor_id, version: res.version }
}

const noopLogger: ClientLogger = {
  debug() {},
  info() {},
  warn() {},
  child() {
    return noopLogger
  },
}

function badOption(key: string, value: unknown, allowed: string): PatinaClientError {
  return new PatinaClientError(
    'PATINA_ERR_CONFIG_INVALID',
    `client option ${key} value ${JSON.stringify(value)} is invalid; allowed: ${allowed}`,
  )
}

function nonNegative(key: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw badOption(key, v, 'a finite number >= 0')
}

/** Positional parameters, or named ones (every key starts with `:`, `@` or `$`). */
function isParams(a: unknown): boolean {
  if (Array.isArray(a)) return true
  if (typeof a !== 'object' || a === null) return false
  const keys = Object.keys(a)
  return keys.length > 0 && keys.every((k) => /^[:@$]/.test(k))
}

function waitParams(o: ReadYourWritesOptions): QueryParams {
  if (o.waitFor === undefined) return {}
  return {
    wait_actor: o.waitFor.actor_id,
    wait_version: o.waitFor.version,
    wait_timeout_ms: o.waitTimeoutMs,
  }
}

export function createClient(opts: ClientOptions): PatinaClient {
  const urls = [...(opts.url !== undefined ? [opts.url] : []), ...(opts.workers ?? [])]
  if (urls.length === 0)
    throw badOption('workers', opts.workers ?? [], 'at least one worker URL (url or workers)')
  for (const u of urls) {
    try {
      const p = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(u) ? u : `http://${u}`)
      if (p.protocol !== 'http:' && p.protocol !== 'https:') throw new Error('scheme')
    } catch {
      throw badOption('workers', u, 'http(s)://host:port or host:port')
    }
  }
  for (const k of [
    'timeoutMs',
    'connectTimeoutMs',
    'probeIntervalMs',
    'probeTimeoutMs',
    'discoveryIntervalMs',
  ] as const)
    nonNegative(k, opts[k])
  if (opts.maxLineBytes !== undefined && !(Number.isInteger(opts.maxLineBytes) && opts.maxLineBytes > 0))
    throw badOption('maxLineBytes', opts.maxLineBytes, 'an integer > 0')

  const timeoutMs = opts.timeoutMs ?? CLIENT_DEFAULTS.timeoutMs
  const maxLineBytes = opts.maxLineBytes ?? CLIENT_DEFAULTS.maxLineBytes
  const now = opts.now ?? Date.now
  const random = opts.random ?? Math.random
  const logger = componentLogger(opts.logger ?? noopLogger, 'client')
  const http = createHttpTransport({
    token: opts.token,
    headers: opts.headers,
    connectTimeoutMs: opts.connectTimeoutMs ?? CLIENT_DEFAULTS.connectTimeoutMs,
    dispatcher: opts.dispatcher,
  })

  const poolOpts: WorkerPoolOptions = {
    workers: urls,
    discover: opts.discover ?? CLIENT_DEFAULTS.discover,
    probeIntervalMs: opts.probeIntervalMs ?? CLIENT_DEFAULTS.probeIntervalMs,
    probeTimeoutMs: opts.probeTimeoutMs ?? CLIENT_DEFAULTS.probeTimeoutMs,
    downAfterProbeFailures: opts.downAfterProbeFailures ?? CLIENT_DEFAULTS.downAfterProbeFailures,
    discoveryIntervalMs: opts.discoveryIntervalMs ?? CLIENT_DEFAULTS.discoveryIntervalMs,
    switchPolicy: opts.switchPolicy ?? CLIENT_DEFAULTS.switchPolicy,
  }

  /** Errors raised before a request reached the worker: safe to retry elsewhere, even for writes. */
  const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])
  const notConnected = (err: unknown): boolean => {
    if (!(err instanceof PatinaClientError) || err.code !== 'PATINA_ERR_HTTP' || err.httpStatus !== undefined)
      return false
    const code = (err.cause as { code?: unknown } | undefined)?.code
    return typeof code === 'string' && CONNECT_ERRORS.has(code)
  }

  /**
   * Sends to `o.worker`, or to the best worker of the pool; when the pool's choice refuses the
   * connection, marks it down and tries the next one (the request never reached the first).
   */
  const call = async (
    o: CallOptions,
    method: 'GET' | 'POST',
    path: string,
    query: QueryParams,
    body: unknown,
    deadline: 'headers' | 'body',
    idleTimeoutMs?: number,
  ): Promise<{ res: HttpResponse; worker: string }> => {
    const send = (worker: string): Promise<HttpResponse> =>
      http.send({
        method,
        base: worker,
        path,
        query,
        body,
        timeoutMs: o.timeoutMs ?? timeoutMs,
        deadline,
        ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
        signal: o.signal,
      })
    if (o.worker !== undefined) {
      const worker = o.worker.replace(/\/$/, '')
      return { res: await send(worker), worker }
    }
    const tried = new Set<string>()
    for (;;) {
      const next = pool.list().find((w) => !tried.has(w.url))
      if (next === undefined)
        throw new PatinaClientError('PATINA_ERR_NO_WORKER', 'no worker configured or discovered')
      tried.add(next.url)
      try {
        return { res: await send(next.url), worker: next.url }
      } catch (err) {
        if (!notConnected(err) || pool.list().every((w) => tried.has(w.url))) throw err
        pool.markDown(next.url)
        logger.debug({ worker: next.url }, 'worker refused the connection; trying the next one')
      }
    }
  }

  const json = async <T>(
    o: CallOptions,
    method: 'GET' | 'POST',
    path: string,
    what: string,
    body?: unknown,
    query: QueryParams = {},
  ): Promise<T> => {
    const { res } = await call(o, method, path, query, body, 'body')
    if (res.status < 200 || res.status >= 300) throw await errorFromResponse(res, what)
    return (await res.json()) as T
  }

  const serverTimeout = (o: CallOptions): number | undefined =>
    o.timeoutMs !== undefined && o.timeoutMs > 0 ? Math.max(1, Math.ceil(o.timeoutMs / 1000)) : undefined

  const lives = new Set<LiveSubscription>()

  const client: PatinaClient = {
    pool: undefined as unknown as WorkerPool,
    async transaction(statements, o = {}) {
      const res = await json<ExecResponse>(o, 'POST', '/v1/transactions', 'transaction', statements, {
        timeout: serverTimeout(o),
      })
      const failed = res.results?.find((r): r is { error: string } => 'error' in r)
      if (failed)
        throw new PatinaClientError('PATINA_ERR_HTTP', `transaction failed: ${failed.error}`, {
          httpStatus: 200,
          serverMessage: failed.error,
        })
      return res
    },
    async query(statement, o = {}) {
      const { res, worker } = await call(
        o,
        'POST',
        '/v1/queries',
        { timeout: serverTimeout(o), ...waitParams(o) },
        statement,
        'body',
      )
      if (res.status < 200 || res.status >= 300) throw await errorFromResponse(res, 'query')
      return createQueryStream(res, worker, maxLineBytes)
    },
    async queryAll(statement, o = {}) {
      return (await client.query(statement, o)).collect()
    },
    async subscribe(statement, o = {}) {
      const { res, worker } = await call(
        o,
        'POST',
        '/v1/subscriptions',
        { from: o.from, skip_rows: o.skipRows, ...waitParams(o) },
        statement,
        'headers',
        o.idleTimeoutMs,
      )
      if (res.status < 200 || res.status >= 300) throw await errorFromResponse(res, 'subscribe')
      return createSubscriptionStream(res, worker, maxLineBytes, o.from ?? null)
    },
    async subscription(id, o = {}) {
      const { res, worker } = await call(
        o,
        'GET',
        `/v1/subscriptions/${encodeURIComponent(id)}`,
        { from: o.from, skip_rows: o.skipRows, ...waitParams(o) },
        undefined,
        'headers',
        o.idleTimeoutMs,
      )
      if (res.status < 200 || res.status >= 300) throw await errorFromResponse(res, `subscription ${id}`)
      return createSubscriptionStream(res, worker, maxLineBytes, o.from ?? null)
    },
    async updates(table, o = {}) {
      const { res, worker } = await call(
        o,
        'POST',
        `/v1/updates/${encodeURIComponent(table)}`,
        {},
        undefined,
        'headers',
      )
      if (res.status < 200 || res.status >= 300) throw await errorFromResponse(res, `updates ${table}`)
      return createUpdatesStream(res, worker, maxLineBytes)
    },
    tableStats(tables, o = {}) {
      return json<TableStatsResponse>(o, 'POST', '/v1/table_stats', 'table_stats', { tables })
    },
    async health(t = {}, o = {}) {
      const { res } = await call(
        o,
        'GET',
        '/v1/health',
        {
          gaps: t.gaps,
          p99_lag: t.p99LagS,
          max_queue: t.maxQueue,
          queue_size: t.queueSize,
          failure_status: t.failureStatus,
        },
        undefined,
        'body',
      )
      let body: Record<string, unknown> = {}
      try {
        const parsed = JSON.parse(await res.text(1024 * 1024)) as unknown
        if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>
      } catch (err) {
        if (err instanceof PatinaClientError && err.code === 'PATINA_ERR_TIMEOUT') throw err
      } finally {
        res.close()
      }
      const r = body['response']
      const health = typeof r === 'object' && r !== null ? (r as HealthResponse['response']) : null
      return {
        ok: res.status >= 200 && res.status < 300,
        httpStatus: res.status,
        health,
        error: typeof body['error'] === 'string' ? body['error'] : null,
      }
    },
    members(o = {}) {
      return json<MembersResponse>(o, 'GET', '/v1/cluster/members', 'cluster members')
    },
    watch(statement: JsonStatement, a?: unknown, b?: WatchOptions): LiveSubscription {
      let stmt: JsonStatement = statement
      let wo: WatchOptions = b ?? {}
      if (a !== undefined) {
        if (typeof statement !== 'string' && (b !== undefined || isParams(a)))
          throw badOption('params', a, 'parameters only with a plain SQL string statement')
        if (b !== undefined || isParams(a)) stmt = [statement as string, a as JsonParam[]]
        else wo = a as WatchOptions
      }
      const live = createLiveSubscription(
        { client, pool, logger, now, random, onClose: (l) => lives.delete(l) },
        stmt,
        wo,
      )
      lives.add(live)
      return live
    },
    workers: () => pool.list(),
    async close() {
      await Promise.all([...lives].map((l) => l.close()))
      pool.close()
      await http.close()
    },
  }

  const pool = createWorkerPool(
    {
      prober: {
        async health(url, probeTimeoutMs) {
          try {
            const h = await client.health({}, { worker: url, timeoutMs: probeTimeoutMs })
            return {
              reachable: true,
              ok: h.ok,
              p99LagMs: h.health && typeof h.health.p99_lag === 'number' ? h.health.p99_lag * 1000 : null,
            }
          } catch {
            return { reachable: false, ok: false, p99LagMs: null }
          }
        },
        async members(url, probeTimeoutMs) {
          return (await client.members({ worker: url, timeoutMs: probeTimeoutMs })).members
        },
      },
      clock: { now, monotonicMs: () => performance.now() },
      onError: (err) => logger.debug({ err }, 'worker pool error'),
    },
    poolOpts,
  )
  ;(client as { pool: WorkerPool }).pool = pool
  return client
}
