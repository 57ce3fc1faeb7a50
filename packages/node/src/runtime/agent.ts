/**
 * The worker agent: wires a validated config into the state engine, the cluster
 * (libp2p transport, membership, broadcast, sync), the subscription hub, the HTTP API and
 * the admin socket, and starts them in order. `stop()` shuts them down in reverse order.
 */
import './polyfill.js'
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import { dirname, join } from 'node:path'
import { PatinaError } from '@patina/api'
import { createStateEngine, openSubsStore, type StateEngine } from '@patina/core'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { createAdminServer, type AdminServer } from '../admin/server.js'
import { buildApi } from '../api/index.js'
import { startApiServer } from '../api/server.js'
import { createCluster, resolveClusterTuning, type Cluster } from './cluster.js'
import { advertisedApi, componentOptionsFrom, type PatinaConfig } from '../config/index.js'
import { componentLogger, setLogLevel } from './log.js'
import { createSubscriptionHub, type SubscriptionHub } from '../subs/index.js'
import { checkOwnHistory, rememberedAddresses } from '../sync/own-history.js'
import { createLibp2pTransport } from '../transport/libp2p.js'
import { clusterMetrics } from './metrics.js'
import { systemClock } from './clock.js'
import type { Transport } from '../transport/transport.js'

export interface AgentDeps {
  logger: Logger
  /** Metrics registry; a new one (with Node's default metrics) when omitted. */
  registry?: Registry
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

const LOOPBACK = /^(127\.|::1$|localhost$|\[::1\]$)/

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
    const o = componentOptionsFrom(config)
    const engine = createStateEngine({ ...o.engine, schema: readSchemaFiles(config.db.schema_paths) })
    stack.push({ name: 'engine', stop: () => engine.close() })
    log.info(
      { actor: engine.actorId, db: config.db.path, tables: [...engine.schema().tables.keys()] },
      'state engine open',
    )

    const newTransport = (): Transport => deps.transport ?? createLibp2pTransport(o.transport)
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
        addresses: [...config.gossip.bootstrap, ...rememberedAddresses(o.files.membersPath)],
        ...o.ownHistory,
        sync: { ...resolveClusterTuning(o.cluster).sync, clusterId: String(config.gossip.cluster_id) },
      },
    )
    log.info(history, 'own history checked')

    const transport = newTransport()
    // The cluster exists before the API, which reads members and health from it. It starts once
    // the API listens: its member record carries the API's address.
    const cluster = createCluster({ engine, transport, logger, registry }, o.cluster)
    stack.push({ name: 'cluster', stop: () => cluster.stop() })
    // Every local commit is published: the engine calls its commit listeners inside
    // `transaction`, so a write is queued for broadcast before `POST /v1/transactions` answers
    // (docs/architecture.md, "walk of one write").
    const unpublish = engine.onCommit((e) => {
      if (e.source === 'local' && e.changesets !== undefined && e.changesets.length > 0)
        cluster.publishLocal(e.changesets)
    })
    stack.push({ name: 'publish', stop: () => void unpublish() })

    mkdirSync(dirname(o.subscriptionsDbPath), { recursive: true })
    const store = openSubsStore(o.subscriptionsDbPath)
    stack.push({ name: 'subs-store', stop: () => store.close() })
    const hub: SubscriptionHub = createSubscriptionHub({ engine, store, logger, registry }, o.hub)
    stack.push({ name: 'subs', stop: () => hub.close() })

    const app: FastifyInstance = buildApi(
      {
        engine,
        logger,
        registry,
        members: () => cluster.members(),
        health: () => ({ ...cluster.stats(), ...cluster.isolation() }),
        subscriptions: hub,
      },
      o.api,
    )
    stack.push({ name: 'api', stop: () => app.close() })
    const apiUrls: string[] = []
    for (const l of o.apiListeners) {
      const server = await startApiServer(app, { host: l.host, port: l.port }, o.apiServer, {
        logger,
        registry,
      })
      stack.push({ name: `api ${server.url}`, stop: () => server.close() })
      apiUrls.push(server.url)
      if (config.api.authorization.tokens.length === 0 && !LOOPBACK.test(l.host)) {
        log.warn(
          { addr: l.addr },
          'the HTTP API listens on a non-loopback address without authorization: anyone who can reach it can read and write',
        )
      }
    }

    const metrics = o.metricsListener
    if (metrics !== null) {
      const metricsServer = createServer((req, res) => {
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
        metricsServer.once('error', reject)
        metricsServer.listen(metrics.port, metrics.host, () => resolve())
      })
      stack.push({ name: 'metrics', stop: () => new Promise<void>((r) => metricsServer.close(() => r())) })
    }

    cluster.setApiAddr(advertisedApi(config, apiUrls))
    await cluster.start()

    let admin: AdminServer | undefined
    if (o.adminPath !== undefined) {
      admin = await createAdminServer(
        {
          reload: () => engine.applySchema(readSchemaFiles(config.db.schema_paths)),
          members: () => cluster.members(),
          syncStatus: () => ({
            ...engine.syncState(),
            stats: engine.stats(),
            refused: engine.refused(),
            cluster: cluster.stats(),
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
        o.adminPath,
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
      cluster,
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
