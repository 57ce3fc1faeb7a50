import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import { pino, type Logger } from 'pino'
import { Counter, Gauge, Registry } from 'prom-client'
import type { JsonParam, JsonSqlValue, JsonStatement } from '@patina/api'
import { createClient, type PatinaClient } from '../client.js'
import { PatinaClientError } from '../errors.js'
import type { LiveStatus, LiveSubscription } from '../live.js'
import {
  loadEdgeConfig,
  validateEdgeConfig,
  type EdgeConfig,
  type EdgeConfigInput,
  type EdgeQueryConfig,
} from './config.js'
import { loadEdgeState, saveEdgeState, type EdgeState } from './state-file.js'
import { componentLogger } from '../log.js'

/** What the edge needs from its caller; everything is optional. */
export interface EdgeDeps {
  /** pino logger (default: silent). The edge logs with `component: 'edge'`. */
  logger?: Logger
  /** prom-client registry to register the edge's metrics on (default: a new one, served on `/metrics`). */
  registry?: Registry
  /** Wall clock in milliseconds (tests). */
  now?: () => number
}

/** One query's freshness, as `/v1/health` reports it. */
export interface EdgeQueryHealth {
  /** A worker's snapshot has been applied since the edge started. */
  synced: boolean
  /** Rows are being served (synced, or loaded from the state file). */
  has_state: boolean
  /** Attached to a worker and following its changes. */
  connected: boolean
  /** Not connected, or nothing heard from the worker for more than `stale_after_ms`. */
  stale: boolean
  worker: string | null
  /** Wall-clock ms of the last word from the worker, or null. */
  last_heard_at: number | null
  /** Milliseconds since then (null if never). */
  lag_ms: number | null
  rows: number
  change_id: number | null
  state: LiveStatus['state']
  last_error: string | null
}

export interface EdgeHealth {
  /** `unsynced` (some query has nothing to serve: HTTP 503), `stale` or `ok` (HTTP 200). */
  status: 'ok' | 'stale' | 'unsynced'
  stale: boolean
  queries: Record<string, EdgeQueryHealth>
}

export interface LookupResult {
  query: string
  key: string[]
  /** Matching rows as column → value objects (empty when none). */
  rows: Array<Record<string, JsonSqlValue>>
  stale: boolean
  lag_ms: number | null
}

export interface ViewDump {
  query: string
  key: string[]
  columns: string[]
  rows: Array<Record<string, JsonSqlValue>>
  synced: boolean
  stale: boolean
  last_heard_at: number | null
}

/** A running (or runnable) edge daemon. */
export interface Edge {
  readonly config: EdgeConfig
  /** The HTTP app (routes registered; `start()` makes it listen). Usable with `app.inject` in tests. */
  readonly app: FastifyInstance
  readonly registry: Registry
  readonly client: PatinaClient
  /** Loads the state file, subscribes every query and listens. Resolves with the listening address (`http://host:port`). */
  start(): Promise<string>
  /** Saves the state file, closes the subscriptions and the HTTP server. */
  stop(): Promise<void>
  /** In-process lookup (no HTTP): rows of `query` whose key columns equal `key`. */
  lookup(query: string, key: readonly string[]): LookupResult
  view(query: string): ViewDump
  health(): EdgeHealth
  /** The live subscription behind a query. */
  subscription(query: string): LiveSubscription
  /** Writes the state file now (no-op without `state_file`). */
  persist(): Promise<void>
}

/**
 * Turns the `key` query parameter(s) of a lookup into one value per key column. Pure.
 *
 * - `key=a&key=b`: one parameter per key column, in `key` order;
 * - `key=a,b`: comma-separated, only when the query has more than one key column (a single-column
 *   key is taken whole, commas included);
 * - or one parameter per column by name (`?host=a&port=b`) when `key` is absent.
 */
export function parseLookupKey(
  raw: Record<string, string | string[] | undefined>,
  keyColumns: readonly string[],
): string[] {
  const k = raw['key']
  const n = keyColumns.length
  const bad = (got: unknown): PatinaClientError =>
    new PatinaClientError(
      'PATINA_ERR_PARAM_INVALID',
      `lookup key ${JSON.stringify(got)} does not match the key columns (${keyColumns.join(', ')}): give ${n} value(s) as key=v1${n > 1 ? '&key=v2, key=v1,v2' : ''} or by column name`,
    )
  if (k === undefined) {
    const byName = keyColumns.map((c) => raw[c])
    if (byName.every((v): v is string => typeof v === 'string')) return byName
    throw bad(null)
  }
  if (Array.isArray(k)) {
    if (k.length === n) return k
    if (k.length === 1 && n > 1) return parseLookupKey({ key: k[0] }, keyColumns)
    throw bad(k)
  }
  if (n === 1) return [k]
  const parts = k.split(',')
  if (parts.length !== n) throw bad(k)
  return parts
}

function statementOf(q: EdgeQueryConfig): JsonStatement {
  if (q.params === undefined) return q.sql
  return [q.sql, q.params as JsonParam[]]
}

function savedMatches(q: EdgeQueryConfig, s: EdgeState['queries'][string] | undefined): boolean {
  return (
    s !== undefined &&
    s.sql === q.sql &&
    JSON.stringify(s.params ?? null) === JSON.stringify(q.params ?? null) &&
    JSON.stringify(s.key) === JSON.stringify(q.key)
  )
}

/** Builds an edge from a config object (validated here: defaults filled in, errors name the key). */
export function createEdge(input: EdgeConfig | EdgeConfigInput, deps: EdgeDeps = {}): Edge {
  const config = validateEdgeConfig(input)
  const now = deps.now ?? Date.now
  const log = componentLogger(deps.logger ?? pino({ level: 'silent' }), 'edge')
  const registry = deps.registry ?? new Registry()
  const startedAt = now()
  const client = createClient({
    workers: [...config.workers],
    discover: config.discover,
    ...(config.token !== undefined ? { token: config.token } : {}),
    probeIntervalMs: config.probe_interval_ms,
    probeTimeoutMs: config.probe_timeout_ms,
    maxLineBytes: config.max_line_bytes,
    logger: log,
    now,
  })
  const queries = new Map<string, { cfg: EdgeQueryConfig; live: LiveSubscription | null }>()
  for (const q of config.queries) queries.set(q.name, { cfg: q, live: null })
  let dirty = false
  let persistTimer: NodeJS.Timeout | undefined
  let persisting: Promise<void> = Promise.resolve()
  let started = false

  // ---- metrics
  const labelNames = ['query'] as const
  const events = new Counter({
    name: 'patina_edge_events_total',
    help: 'Row changes applied to the edge views, by query and type (insert, update, delete)',
    labelNames: ['query', 'type'] as const,
    registers: [registry],
  })
  const lookups = new Counter({
    name: 'patina_edge_lookups_total',
    help: 'Lookups served, by query and result (hit, miss, unsynced)',
    labelNames: ['query', 'result'] as const,
    registers: [registry],
  })
  const statusOf = (name: string): LiveStatus | null => queries.get(name)?.live?.status() ?? null
  new Gauge({
    name: 'patina_edge_staleness_seconds',
    help: 'Seconds since the edge last heard from the worker feeding each query (since start if never)',
    labelNames,
    registers: [registry],
    collect() {
      for (const name of queries.keys()) {
        const s = statusOf(name)
        const last = s?.lastHeardAt ?? null
        this.set({ query: name }, Math.max(0, now() - (last ?? startedAt)) / 1000)
      }
    },
  })
  new Gauge({
    name: 'patina_edge_rows',
    help: 'Rows held in memory per query',
    labelNames,
    registers: [registry],
    collect() {
      for (const name of queries.keys()) this.set({ query: name }, statusOf(name)?.rows ?? 0)
    },
  })
  new Gauge({
    name: 'patina_edge_connected',
    help: '1 when the query is attached to a worker and following its changes',
    labelNames,
    registers: [registry],
    collect() {
      for (const name of queries.keys()) this.set({ query: name }, statusOf(name)?.state === 'live' ? 1 : 0)
    },
  })
  new Gauge({
    name: 'patina_edge_stale',
    help: '1 when the query is stale (not connected, or silent for more than stale_after_ms)',
    labelNames,
    registers: [registry],
    collect() {
      for (const name of queries.keys()) this.set({ query: name }, queryHealth(name).stale ? 1 : 0)
    },
  })
  const counterFrom = (metric: string, help: string, field: keyof LiveStatus['counters']): void => {
    const seen = new Map<string, number>()
    new Counter({
      name: metric,
      help,
      labelNames,
      registers: [registry],
      collect() {
        for (const name of queries.keys()) {
          const v = statusOf(name)?.counters[field] ?? 0
          const d = v - (seen.get(name) ?? 0)
          if (d > 0) this.inc({ query: name }, d)
          seen.set(name, v)
        }
      },
    })
  }
  counterFrom(
    'patina_edge_failovers_total',
    'Subscriptions moved to another worker after a failure',
    'failovers',
  )
  counterFrom(
    'patina_edge_switches_total',
    'Subscriptions moved back to a preferred (nearer) worker',
    'switches',
  )
  counterFrom(
    'patina_edge_resumes_total',
    'Subscription reconnections resumed with from=<change id>',
    'resumes',
  )
  counterFrom(
    'patina_edge_missed_changes_total',
    'Gaps in change ids detected (followed by a resync)',
    'missedChanges',
  )
  counterFrom(
    'patina_edge_subscription_errors_total',
    'Subscription interruptions (network, protocol, server errors)',
    'errors',
  )

  // ---- views
  const need = (name: string): { cfg: EdgeQueryConfig; live: LiveSubscription } => {
    const q = queries.get(name)
    if (!q)
      throw new PatinaClientError(
        'PATINA_ERR_PARAM_INVALID',
        `unknown query ${JSON.stringify(name)}; configured: ${[...queries.keys()].join(', ')}`,
        { httpStatus: 404 },
      )
    if (!q.live) throw new PatinaClientError('PATINA_ERR_CLOSED', 'the edge is not started')
    return { cfg: q.cfg, live: q.live }
  }
  const toObject = (columns: readonly string[], cells: JsonSqlValue[]): Record<string, JsonSqlValue> => {
    const o: Record<string, JsonSqlValue> = {}
    columns.forEach((c, i) => (o[c] = cells[i] ?? null))
    return o
  }
  const queryHealth = (name: string): EdgeQueryHealth => {
    const s = statusOf(name)
    if (!s)
      return {
        synced: false,
        has_state: false,
        connected: false,
        stale: true,
        worker: null,
        last_heard_at: null,
        lag_ms: null,
        rows: 0,
        change_id: null,
        state: 'connecting',
        last_error: null,
      }
    const connected = s.state === 'live'
    return {
      synced: s.synced,
      has_state: s.hasState,
      connected,
      stale: !connected || s.lagMs === null || s.lagMs > config.stale_after_ms,
      worker: s.worker,
      last_heard_at: s.lastHeardAt,
      lag_ms: s.lagMs,
      rows: s.rows,
      change_id: s.changeId,
      state: s.state,
      last_error: s.lastError,
    }
  }

  const edge: Edge = {
    config,
    app: Fastify({ logger: false }),
    registry,
    client,
    lookup(name, key) {
      const { live } = need(name)
      const h = queryHealth(name)
      if (!h.has_state) {
        lookups.inc({ query: name, result: 'unsynced' })
        throw new PatinaClientError(
          'PATINA_ERR_NO_WORKER',
          `query ${name} has no data yet (never synced with a worker)`,
          {
            httpStatus: 503,
          },
        )
      }
      const rows = live.findByKey(key).map((r) => toObject(live.columns, r.cells))
      lookups.inc({ query: name, result: rows.length > 0 ? 'hit' : 'miss' })
      return { query: name, key: [...key], rows, stale: h.stale, lag_ms: h.lag_ms }
    },
    view(name) {
      const { cfg, live } = need(name)
      const h = queryHealth(name)
      return {
        query: name,
        key: [...cfg.key],
        columns: [...live.columns],
        rows: [...live.rows.values()].map((c) => toObject(live.columns, c)),
        synced: h.synced,
        stale: h.stale,
        last_heard_at: h.last_heard_at,
      }
    },
    health() {
      const qs: Record<string, EdgeQueryHealth> = {}
      for (const name of queries.keys()) qs[name] = queryHealth(name)
      const all = Object.values(qs)
      const stale = all.some((q) => q.stale)
      return {
        status: all.some((q) => !q.has_state) ? 'unsynced' : stale ? 'stale' : 'ok',
        stale,
        queries: qs,
      }
    },
    subscription: (name) => need(name).live,
    persist() {
      const file = config.state_file
      if (file === undefined) return Promise.resolve()
      persisting = persisting
        .catch(() => {})
        .then(async () => {
          dirty = false
          const state: EdgeState = { format: 'patina-edge-state', version: 1, saved_at: now(), queries: {} }
          for (const [name, q] of queries) {
            if (!q.live || !q.live.status().hasState) continue
            state.queries[name] = {
              sql: q.cfg.sql,
              params: (q.cfg.params as EdgeState['queries'][string]['params']) ?? null,
              key: [...q.cfg.key],
              columns: [...q.live.columns],
              rows: [...q.live.rows],
            }
          }
          await saveEdgeState(file, state)
        })
      return persisting
    },
    async start() {
      if (started) throw new PatinaClientError('PATINA_ERR_PARAM_INVALID', 'edge already started')
      started = true
      let saved: EdgeState | null = null
      if (config.state_file !== undefined) {
        try {
          saved = await loadEdgeState(config.state_file)
          if (saved) log.info({ file: config.state_file, saved_at: saved.saved_at }, 'loaded edge state file')
        } catch (err) {
          log.warn({ err, file: config.state_file }, 'ignoring unreadable edge state file; starting cold')
        }
      }
      for (const [name, q] of queries) {
        const s = saved?.queries[name]
        const warm = savedMatches(q.cfg, s) ? s : undefined
        if (s && !warm)
          log.warn({ query: name }, 'saved view does not match the configured query; starting it cold')
        const live = client.watch(statementOf(q.cfg), {
          keyColumns: [...q.cfg.key],
          connectTimeoutMs: config.connect_timeout_ms,
          ...(warm ? { initialState: { columns: warm.columns, rows: warm.rows } } : {}),
        })
        live.on('change', (e) => {
          events.inc({ query: name, type: e.type })
          dirty = true
        })
        live.on('error', (e) => log.debug({ query: name, err: e.message }, 'subscription interrupted'))
        live.on('status', (s) => {
          if (s.state === 'failed') log.warn({ query: name, err: s.lastError }, 'subscription failed')
        })
        q.live = live
      }
      if (config.state_file !== undefined) {
        persistTimer = setInterval(() => {
          if (dirty)
            edge.persist().catch((err: unknown) => log.warn({ err }, 'saving the edge state file failed'))
        }, config.persist_interval_ms)
        persistTimer.unref()
      }
      const i = config.listen.lastIndexOf(':')
      const host = config.listen.slice(0, i).replace(/^\[|\]$/g, '')
      const port = Number(config.listen.slice(i + 1))
      const address = await edge.app.listen({ host, port })
      log.info({ address }, 'edge listening')
      return address
    },
    async stop() {
      if (persistTimer !== undefined) clearInterval(persistTimer)
      persistTimer = undefined
      if (started && config.state_file !== undefined) {
        try {
          await edge.persist()
        } catch (err) {
          log.warn({ err }, 'saving the edge state file failed')
        }
      }
      await client.close()
      await edge.app.close()
    },
  }

  registerRoutes(edge, registry)
  return edge
}

function sendError(reply: FastifyReply, err: unknown): unknown {
  if (err instanceof PatinaClientError) {
    const status = err.httpStatus ?? (err.code === 'PATINA_ERR_PARAM_INVALID' ? 400 : err.status)
    return reply.code(status).send({ error: err.message, code: err.code })
  }
  return reply.code(500).send({ error: String(err), code: 'PATINA_ERR_INTERNAL' })
}

function registerRoutes(edge: Edge, registry: Registry): void {
  const app = edge.app
  app.get<{ Params: { query: string }; Querystring: Record<string, string | string[]> }>(
    '/v1/lookup/:query',
    async (req, reply) => {
      try {
        const cfg = edge.config.queries.find((q) => q.name === req.params.query)
        if (!cfg) edge.subscription(req.params.query) // throws the unknown-query error
        const key = parseLookupKey(req.query, cfg?.key ?? [])
        const r = edge.lookup(req.params.query, key)
        if (r.rows.length === 0)
          return reply.code(404).send({
            error: `no row in query ${r.query} with key ${JSON.stringify(r.key)}`,
            query: r.query,
            key: r.key,
            stale: r.stale,
          })
        return reply.send(r)
      } catch (err) {
        return sendError(reply, err)
      }
    },
  )
  app.get<{ Params: { query: string } }>('/v1/views/:query', async (req, reply) => {
    try {
      return reply.send(edge.view(req.params.query))
    } catch (err) {
      return sendError(reply, err)
    }
  })
  app.get('/v1/health', async (_req, reply) => {
    const h = edge.health()
    return reply.code(h.status === 'unsynced' ? 503 : 200).send(h)
  })
  app.get('/metrics', async (_req, reply) => {
    return reply.header('content-type', registry.contentType).send(await registry.metrics())
  })
}

/**
 * `patina edge`: loads the TOML config at `configPath`, starts the edge and returns it (running).
 * The caller owns signals: call `edge.stop()` on SIGINT/SIGTERM, or pass `signal`.
 */
export async function runEdge(
  configPath: string,
  deps: EdgeDeps & { signal?: AbortSignal } = {},
): Promise<Edge> {
  const config = await loadEdgeConfig(configPath)
  const logger = deps.logger ?? pino({ level: 'info' })
  const edge = createEdge(config, { ...deps, logger })
  await edge.start()
  if (deps.signal) {
    if (deps.signal.aborted) await edge.stop()
    else deps.signal.addEventListener('abort', () => void edge.stop(), { once: true })
  }
  return edge
}
