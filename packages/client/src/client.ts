import type {
  ExecResponse,
  JsonParam,
  JsonStatement,
  MembersResponse,
  TableStatsResponse,
  WaitFor,
} from '@patina/api'
import { PatinaClientError } from './errors.js'
import { parseWorkerFreshness } from './freshness.js'
import { createHttpTransport, errorFromResponse, type HttpResponse, type QueryParams } from './http.js'
import { createLiveSubscription } from './live.js'
import { NDJSON_DEFAULTS } from './ndjson.js'
import { createWorkerPool, POOL_DEFAULTS, type WorkerPool, type WorkerPoolOptions } from './pool.js'
import { createQueryStream, createSubscriptionStream, createUpdatesStream } from './streams.js'
import type {
  CallOptions,
  ClientLogger,
  ClientOptions,
  HealthResult,
  LiveSubscription,
  PatinaClient,
  ReadYourWritesOptions,
  WatchOptions,
} from './types.js'
import { componentLogger } from './log.js'

/** Defaults of {@link ClientOptions}. */
export const CLIENT_DEFAULTS = Object.freeze({
  timeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  maxLineBytes: NDJSON_DEFAULTS.maxLineBytes,
  ...POOL_DEFAULTS,
})

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
    'maxContactMs',
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
    maxContactMs: opts.maxContactMs ?? CLIENT_DEFAULTS.maxContactMs,
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
          max_contact_ms: t.maxContactMs,
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
      const health = typeof r === 'object' && r !== null ? (r as HealthResult['health']) : null
      return {
        ok: res.status >= 200 && res.status < 300,
        httpStatus: res.status,
        health,
        error: typeof body['error'] === 'string' ? body['error'] : null,
        freshness: parseWorkerFreshness(r),
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
              freshness: h.freshness,
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
