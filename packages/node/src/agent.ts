/**
 * The worker agent: wires a validated config into the state engine, the cluster
 * (libp2p transport, membership, broadcast, sync), the subscription hub, the HTTP API and
 * the admin socket, and starts them in order. `stop()` shuts them down in reverse order.
 */
import './polyfill.js'
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { dirname, join } from 'node:path'
import { PatinaError } from '@patina/api'
import {
  createStateEngine,
  openSubsStore,
  type StateEngine,
  type Statement,
  type TransactionResult,
} from '@patina/core'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { createAdminServer, type AdminServer } from './admin/server.js'
import { buildApi } from './api/index.js'
import { startApiServer } from './api/server.js'
import { createCluster, resolveClusterTuning, type Cluster, type ClusterPreset } from './cluster.js'
import { httpUrlFor, parseHostPort, type PatinaConfig } from './config/index.js'
import { hubOptionsFrom } from './config/options.js'
import { componentLogger, setLogLevel } from './log.js'
import { createSubscriptionHub, type SubscriptionHub } from './subs/index.js'
import { checkOwnHistory, rememberedAddresses } from './sync/own-history.js'
import { createLibp2pTransport } from './transport/libp2p.js'
import { clusterMetrics } from './transport/metrics.js'
import { systemClock } from './transport/time.js'
import type { Transport } from './transport/transport.js'

export interface AgentDeps {
  logger: Logger
  /** Metrics registry; a new one (with Node's default metrics) when omitted. */
  registry?: Registry
  /** Cluster timing preset (default `lan`; tests use `test`). */
  preset?: ClusterPreset
  /** A transport to use instead of libp2p (in-memory tests). */
  transport?: Transport
}

export interface Agent {
  /** Base URL of the first API listener, e.g. `http://127.0.0.1:8080`. */
  readonly apiUrl: string
  /** Every API listener's base URL. */
  readonly apiUrls: string[]
  readonly engine: StateEngine
  readonly cluster: Cluster
  readonly registry: Registry
  /** Our libp2p peer id. */
  readonly peerId: string
  stop(): Promise<void>
}

/** Schema SQL from `db.schema_paths`: each file, or every `.sql` file of a directory (sorted). */
export function readSchemaFiles(paths: readonly string[]): string {
  const parts: string[] = []
  for (const p of paths) {
    let st
    try {
      st = statSync(p)
    } catch {
      throw new PatinaError(
        'PATINA_ERR_SCHEMA_INVALID',
        `db.schema_paths entry ${JSON.stringify(p)} does not exist`,
      )
    }
    if (st.isDirectory()) {
      for (const f of readdirSync(p)
        .filter((n) => n.endsWith('.sql'))
        .sort())
        parts.push(readFileSync(join(p, f), 'utf8'))
    } else parts.push(readFileSync(p, 'utf8'))
  }
  return parts.join(';\n')
}

/**
 * The engine as the API sees it: a local transaction is published to the cluster as soon
 * as it commits (before the HTTP response is written).
 */
function broadcastingEngine(engine: StateEngine, publish: (r: TransactionResult) => void): StateEngine {
  return new Proxy(engine, {
    get(target, prop, receiver) {
      if (prop === 'transaction') {
        return (statements: Statement[], opts?: { timeoutMs?: number }) => {
          const r = target.transaction(statements, opts)
          if (r.changesets.length > 0) publish(r)
          return r
        }
      }
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}

const LOOPBACK = /^(127\.|::1$|localhost$|\[::1\]$)/
const WILDCARD = /^(0\.0\.0\.0|::|\[::\])$/

/**
 * The API URL announced to other members: `api.external_addr`, else — for a wildcard listen
 * address — the host of `gossip.external_addr` with the API port, else the first listener.
 */
export function advertisedApi(config: PatinaConfig, apiUrls: string[]): string | null {
  if (config.api.external_addr !== undefined) return httpUrlFor(config.api.external_addr)
  const first = parseHostPort(config.api.addr[0] as string)
  const gossipExt =
    config.gossip.external_addr !== undefined ? parseHostPort(config.gossip.external_addr) : null
  if (first !== null && WILDCARD.test(first.host) && gossipExt !== null && apiUrls[0] !== undefined) {
    return httpUrlFor(
      `${gossipExt.host.includes(':') ? `[${gossipExt.host}]` : gossipExt.host}:${new URL(apiUrls[0]).port}`,
    )
  }
  return apiUrls[0] ?? null
}

export async function startAgent(config: PatinaConfig, deps: AgentDeps): Promise<Agent> {
  const logger = deps.logger
  const log = componentLogger(logger, 'agent')
  const dbDir = dirname(config.db.path)
  mkdirSync(dbDir, { recursive: true })
  const registry = deps.registry ?? new Registry()
  if (deps.registry === undefined) collectDefaultMetrics({ register: registry, prefix: 'patina_' })

  const stack: { name: string; stop: () => Promise<void> | void }[] = []
  const stopAll = async () => {
    for (const s of stack.reverse()) {
      try {
        await s.stop()
      } catch (err) {
        log.warn({ err, service: s.name }, 'error while stopping')
      }
    }
    stack.length = 0
  }

  try {
    const schema = readSchemaFiles(config.db.schema_paths)
    const engine = createStateEngine({
      path: config.db.path,
      schema,
      maxChunkBytes: Math.min(64 * 1024, config.gossip.message_max_bytes / 4),
      readThreads: config.db.read_threads,
      synchronous: config.db.synchronous,
      localTables: [...config.db.local_tables],
    })
    stack.push({ name: 'engine', stop: () => engine.close() })
    log.info(
      { actor: engine.actorId, db: config.db.path, tables: [...engine.schema().tables.keys()] },
      'state engine open',
    )

    const newTransport = (): Transport =>
      deps.transport ??
      createLibp2pTransport({
        listen: [config.gossip.addr],
        ...(config.gossip.external_addr !== undefined ? { announce: [config.gossip.external_addr] } : {}),
        identityPath: join(dbDir, 'node.key'),
        ...(config.gossip.cluster_key !== undefined ? { clusterKey: config.gossip.cluster_key } : {}),
        // Twice the cluster's limit: an oversized message must reach our validation (and its
        // counter) instead of being dropped silently inside gossipsub.
        maxMessageBytes: 2 * config.gossip.message_max_bytes,
      })

    // Before accepting writes: do peers know versions of this node's actor beyond its database?
    const history = await checkOwnHistory(
      {
        engine,
        transport: newTransport(),
        logger,
        metrics: clusterMetrics(new Registry()),
        clock: systemClock,
      },
      {
        addresses: [...config.gossip.bootstrap, ...rememberedAddresses(join(dbDir, 'members.json'))],
        waitMs: config.db.own_history_wait_ms,
        retryMs: 500,
        sync: {
          ...resolveClusterTuning({ preset: deps.preset ?? 'lan' }).sync,
          clusterId: String(config.gossip.cluster_id),
        },
      },
    )
    log.info(history, 'own history checked')
    const transport = newTransport()

    const subsDir = config.db.subscriptions_path
    mkdirSync(subsDir, { recursive: true })
    const store = openSubsStore(join(subsDir, 'subscriptions.db'))
    stack.push({ name: 'subs-store', stop: () => store.close() })
    const hub: SubscriptionHub = createSubscriptionHub(
      { engine, store, logger, registry },
      hubOptionsFrom(config),
    )
    stack.push({ name: 'subs', stop: () => hub.close() })

    // The cluster is created once the API listens (its member record carries the API URL).
    const late: { cluster?: Cluster } = {}
    const apiEngine = broadcastingEngine(engine, (r) => late.cluster?.publishLocal(r.changesets))
    const app: FastifyInstance = buildApi(
      {
        engine: apiEngine,
        logger,
        registry,
        members: () => late.cluster?.members() ?? [],
        health: () => {
          const s = late.cluster?.stats()
          return { queueSize: s?.queueSize ?? 0, p99LagSec: s?.p99LagSec ?? 0, ...late.cluster?.isolation() }
        },
        subscriptions: hub,
      },
      {
        ...(config.api.endpoint_name !== undefined ? { endpointName: config.api.endpoint_name } : {}),
        tokens: [...config.api.authorization.tokens],
        bodyLimitBytes: config.api.limits.body_max_bytes,
        maxStatementsPerTransaction: config.api.limits.statements_per_tx_max,
        defaultQueryTimeoutSec: config.api.limits.query_timeout_secs,
        maxTimeoutSec: config.api.limits.timeout_max_secs,
        mainThreadMaxMs: config.api.limits.main_thread_max_ms,
        defaultWaitTimeoutMs: config.api.limits.wait_timeout_default_ms,
        maxWaitTimeoutMs: config.api.limits.wait_timeout_max_ms,
        maxStreamBufferBytes: config.api.limits.stream_buffer_max_bytes,
        concurrency: { ...config.api.concurrency },
      },
    )
    stack.push({ name: 'api', stop: () => app.close() })
    const apiUrls: string[] = []
    const limits = config.api.limits
    for (const addr of config.api.addr) {
      const hp = parseHostPort(addr)
      if (hp === null)
        throw new PatinaError(
          'PATINA_ERR_CONFIG_INVALID',
          `api.addr value ${JSON.stringify(addr)} is not host:port`,
        )
      const server = await startApiServer(
        app,
        { host: hp.host, port: hp.port },
        {
          headerTimeoutMs: limits.header_timeout_ms,
          bodyTimeoutMs: limits.body_timeout_ms,
          idleTimeoutMs: limits.idle_timeout_ms,
          connectionsPerAddressMax: limits.connections_per_address_max,
          http2MaxStreams: limits.http2_max_streams,
        },
        { logger, registry },
      )
      stack.push({ name: `api ${server.url}`, stop: () => server.close() })
      apiUrls.push(server.url)
      if (config.api.authorization.tokens.length === 0 && !LOOPBACK.test(hp.host)) {
        log.warn(
          { addr },
          'the HTTP API listens on a non-loopback address without authorization: anyone who can reach it can read and write',
        )
      }
    }

    const cluster = createCluster(
      { engine, transport, logger, registry },
      {
        clusterId: String(config.gossip.cluster_id),
        apiAddr: advertisedApi(config, apiUrls),
        region: config.gossip.region,
        role: 'worker',
        bootstrap: [...config.gossip.bootstrap],
        membersPath: join(dbDir, 'members.json'),
        preset: deps.preset ?? 'lan',
        membership: {
          probeIntervalMs: config.gossip.probe_interval_ms,
          probeTimeoutMs: config.gossip.probe_timeout_ms,
          indirectProbes: config.gossip.indirect_probes,
          suspicionMult: config.gossip.suspicion_mult,
          isolationAfterMs: config.gossip.isolation_after_ms,
          maxMessageBytes: config.gossip.message_max_bytes,
        },
        broadcast: {
          maxBatchDelayMs: config.gossip.broadcast_batch_delay_ms,
          maxBatchBytes: config.gossip.broadcast_batch_max_bytes,
          maxMessageBytes: config.gossip.message_max_bytes,
        },
        sync: {
          minIntervalMs: config.gossip.sync_interval_min_ms,
          maxIntervalMs: config.gossip.sync_interval_max_ms,
          peersPerRound: config.gossip.sync_peers,
          maxChunkBytes: config.gossip.sync_chunk_max_bytes,
          idleTimeoutMs: config.gossip.sync_timeout_ms,
        },
      },
    )

    let metricsServer: Server | undefined
    const promAddr = config.telemetry.prometheus.addr
    if (promAddr !== undefined) {
      const hp = parseHostPort(promAddr)
      if (hp !== null) {
        metricsServer = createServer((req, res) => {
          if (req.url !== '/metrics') {
            res.writeHead(404).end()
            return
          }
          registry.metrics().then(
            (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
            (err: unknown) => res.writeHead(500).end(String(err)),
          )
        })
        await new Promise<void>((resolve, reject) => {
          metricsServer!.once('error', reject)
          metricsServer!.listen(hp.port, hp.host, () => resolve())
        })
        stack.push({ name: 'metrics', stop: () => new Promise<void>((r) => metricsServer!.close(() => r())) })
      }
    }

    late.cluster = cluster
    const started = cluster
    await started.start()
    stack.splice(stack.findIndex((s) => s.name === 'engine') + 1, 0, {
      name: 'cluster',
      stop: () => started.stop(),
    })

    let admin: AdminServer | undefined
    if (config.admin.path !== undefined) {
      admin = await createAdminServer(
        {
          reload: () => engine.applySchema(readSchemaFiles(config.db.schema_paths)),
          members: () => started.members(),
          syncStatus: () => ({
            ...engine.syncState(),
            stats: engine.stats(),
            refused: engine.refused(),
            cluster: started.stats(),
          }),
          subsList: () => hub.list(),
          logLevel: (level) => {
            setLogLevel(logger, level)
            return { level }
          },
          backup: async (path: string) => {
            await engine.backup(path)
            return { path }
          },
        },
        config.admin.path,
        { logger },
      )
      stack.push({ name: 'admin', stop: () => admin!.close() })
    }

    log.info({ api: apiUrls, peer: transport.peerId, cluster: config.gossip.cluster_id }, 'agent started')
    let stopped = false
    return {
      apiUrl: apiUrls[0] as string,
      apiUrls,
      engine,
      cluster: started,
      registry,
      peerId: transport.peerId,
      async stop() {
        if (stopped) return
        stopped = true
        await stopAll()
      },
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}
