/**
 * The edge daemon: keeps the configured queries subscribed on nearby workers (live
 * subscriptions of `@patina/client`), holds their rows in memory, indexed by key, and serves
 * lookups from there on a local HTTP port, including while no worker is reachable (then marked
 * stale). Optionally persists the views to a state file for a warm restart.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pino, type Logger } from 'pino'
import { Registry } from 'prom-client'
import type { JsonParam, JsonSqlValue, JsonStatement } from '@patina/api'
import type { TemplateSet, TemplatesHealth } from '@patina/template'
import {
  componentLogger,
  createClient,
  PatinaClientError,
  type LiveStatus,
  type LiveSubscription,
  type PatinaClient,
} from '@patina/client'
import {
  effectiveMaxContactMs,
  loadEdgeConfig,
  validateEdgeConfig,
  type EdgeConfig,
  type EdgeConfigInput,
  type EdgeQueryConfig,
} from './config.js'
import { edgeHealth, queryHealth, type EdgeHealth, type EdgeQueryHealth } from './health.js'
import { registerEdgeMetrics } from './metrics.js'
import { createRequestHandler } from './routes.js'
import { loadEdgeState, saveEdgeState, type EdgeState } from './state-file.js'

/** What the edge needs from its caller; everything is optional. */
export interface EdgeDeps {
  /** pino logger (default: silent). The edge logs with `component: 'edge'`. */
  logger?: Logger
  /** prom-client registry to register the edge's metrics on (default: a new one, served on `/metrics`). */
  registry?: Registry
  /** Wall clock in milliseconds (tests). */
  now?: () => number
}

export type { EdgeHealth, EdgeQueryHealth }

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
  /** The HTTP server of the lookup API (`start()` makes it listen). */
  readonly server: Server
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
  /** The `[[templates]]`' health (`GET /v1/templates`); `ok` with no templates. */
  templates(): TemplatesHealth
  /** The live subscription behind a query. */
  subscription(query: string): LiveSubscription
  /** Writes the state file now (no-op without `state_file`). */
  persist(): Promise<void>
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
    maxContactMs: effectiveMaxContactMs(config),
    maxLineBytes: config.max_line_bytes,
    logger: log,
    now,
  })
  /** Made by `start()`: `@patina/template` (and its template engine) is loaded only when `[[templates]]` are configured. */
  let templateSet: TemplateSet | null = null
  const makeTemplateSet = async (): Promise<TemplateSet | null> => {
    if (config.templates.length === 0) return null
    const { createTemplateSet } = await import('@patina/template')
    return createTemplateSet(
      config.templates.map((t) => ({
        src: t.src,
        dst: t.dst,
        ...(t.cmd !== undefined ? { cmd: t.cmd } : {}),
        ...(t.name !== undefined ? { name: t.name } : {}),
      })),
      {
        debounceMs: config.template_debounce_ms,
        maxDelayMs: config.template_max_delay_ms,
        commandTimeoutMs: config.template_command_timeout_ms,
        staleAfterMs: config.stale_after_ms,
      },
      { source: client, logger: log, registry, now },
    )
  }
  const queries = new Map<string, { cfg: EdgeQueryConfig; live: LiveSubscription | null }>()
  for (const q of config.queries) queries.set(q.name, { cfg: q, live: null })
  let dirty = false
  let persistTimer: NodeJS.Timeout | undefined
  let persisting: Promise<void> = Promise.resolve()
  let started = false

  const statusOf = (name: string): LiveStatus | null => queries.get(name)?.live?.status() ?? null
  const healthOf = (name: string): EdgeQueryHealth => queryHealth(statusOf(name), config.stale_after_ms)
  const metrics = registerEdgeMetrics(registry, {
    names: () => queries.keys(),
    status: statusOf,
    health: healthOf,
    now,
    startedAt,
  })

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

  /** Loads the state file; a missing one is a cold start, a bad one is logged (naming the file and the problem) and ignored. */
  const loadSaved = async (file: string): Promise<EdgeState | null> => {
    try {
      const saved = await loadEdgeState(file)
      if (saved) log.info({ file, saved_at: saved.saved_at }, 'loaded edge state file')
      return saved
    } catch (err) {
      log.warn({ file, err: (err as Error).message }, 'ignoring the edge state file; starting cold')
      return null
    }
  }

  const edge: Edge = {
    config,
    server: createServer(),
    registry,
    client,
    lookup(name, key) {
      const { live } = need(name)
      const h = healthOf(name)
      if (!h.has_state) {
        metrics.lookups.inc({ query: name, result: 'unsynced' })
        throw new PatinaClientError(
          'PATINA_ERR_NO_WORKER',
          `query ${name} has no data yet (never synced with a worker)`,
          { httpStatus: 503 },
        )
      }
      const rows = live.findByKey(key).map((r) => toObject(live.columns, r.cells))
      metrics.lookups.inc({ query: name, result: rows.length > 0 ? 'hit' : 'miss' })
      return { query: name, key: [...key], rows, stale: h.stale, lag_ms: h.lag_ms }
    },
    view(name) {
      const { cfg, live } = need(name)
      const h = healthOf(name)
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
      for (const name of queries.keys()) qs[name] = healthOf(name)
      const h = edgeHealth(qs)
      return templateSet === null ? h : { ...h, templates: templateSet.health() }
    },
    templates: () => templateSet?.health() ?? { ok: true, templates: [] },
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
      templateSet = await makeTemplateSet()
      if (templateSet !== null) {
        // A template that cannot start (missing file, syntax error, no output folder) stops the edge with its message.
        try {
          await templateSet.start()
        } catch (err) {
          await templateSet.stop()
          await client.close()
          throw err
        }
      }
      const saved = config.state_file === undefined ? null : await loadSaved(config.state_file)
      for (const [name, q] of queries) {
        const s = saved?.queries[name]
        const warm = savedMatches(q.cfg, s) ? s : undefined
        if (s && !warm)
          log.warn({ query: name }, 'saved view does not match the configured query; starting it cold')
        const live = client.watch(statementOf(q.cfg), {
          keyColumns: [...q.cfg.key],
          connectTimeoutMs: config.connect_timeout_ms,
          standby: config.standby,
          ...(warm ? { initialState: { columns: warm.columns, rows: warm.rows } } : {}),
        })
        live.on('change', (e) => {
          metrics.events.inc({ query: name, type: e.type })
          dirty = true
        })
        live.on('error', (e) => log.debug({ query: name, err: e.message }, 'subscription interrupted'))
        live.on('status', (st) => {
          if (st.state === 'failed') log.warn({ query: name, err: st.lastError }, 'subscription failed')
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
      await new Promise<void>((resolve, reject) => {
        edge.server.once('error', reject)
        edge.server.listen(port, host, () => {
          edge.server.off('error', reject)
          resolve()
        })
      })
      const a = edge.server.address() as AddressInfo
      const address = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`
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
      await templateSet?.stop()
      await client.close()
      if (edge.server.listening) {
        const closed = new Promise<void>((resolve) => edge.server.close(() => resolve()))
        edge.server.closeAllConnections()
        await closed
      }
    },
  }

  // Lookup clients keep connections open: close idle ones after 72 s (fastify's default), longer
  // than common client pools keep them, so that a client never reuses a socket the edge is closing.
  edge.server.keepAliveTimeout = 72_000
  edge.server.on('request', createRequestHandler(edge, registry))
  return edge
}

/**
 * `patina-edge -c edge.toml` (and `patina edge`): loads the TOML config at `configPath`, starts
 * the edge and returns it (running). The caller owns signals: call `edge.stop()` on
 * SIGINT/SIGTERM, or pass `signal`.
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
