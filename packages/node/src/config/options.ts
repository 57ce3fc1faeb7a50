/**
 * From the frozen config to each component's options: THE place where config key names
 * (Corrosion's snake_case, units in names) meet the components' option names. `agent.ts` takes
 * everything it passes to a component from {@link componentOptionsFrom}; a table test
 * (`test/config/options.test.ts`) walks every key. Pure.
 */
import { dirname, join } from 'node:path'
import { PatinaError } from '@patina/api'
import type { StateEngineOptions } from '@patina/core'
import type { ApiOptionsInit } from '../api/options.js'
import type { ApiServerLimits } from '../api/server.js'
import type { ClusterOptions } from '../runtime/cluster.js'
import type { SubscriptionHubOptions } from '../subs/options.js'
import type { Libp2pTransportOptions } from '../transport/libp2p.js'
import { httpUrlFor, parseHostPort } from './addr.js'
import { PRESETS, TUNED_KEYS } from './presets.js'
import type { PatinaConfig } from './schema.js'

/** Files kept next to the database, and the subscriptions' own database. */
export function nodeFiles(config: PatinaConfig): {
  identityPath: string
  membersPath: string
  subscriptionsDbPath: string
} {
  const dir = dirname(config.db.path)
  return {
    identityPath: join(dir, 'node.key'),
    membersPath: join(dir, 'members.json'),
    subscriptionsDbPath: join(config.db.subscriptions_path, 'subscriptions.db'),
  }
}

/** The state engine, without its schema (the agent reads `db.schema_paths`). */
export function engineOptionsFrom(config: PatinaConfig): Omit<StateEngineOptions, 'schema'> {
  return {
    path: config.db.path,
    // A changeset chunk leaves room in a gossip message for the envelope and for batching.
    maxChunkBytes: Math.min(64 * 1024, config.gossip.message_max_bytes / 4),
    readThreads: config.db.read_threads,
    synchronous: config.db.synchronous,
    localTables: [...config.db.local_tables],
  }
}

export function transportOptionsFrom(config: PatinaConfig): Libp2pTransportOptions {
  const g = config.gossip
  return {
    listen: [g.addr],
    ...(g.external_addr !== undefined ? { announce: [g.external_addr] } : {}),
    identityPath: nodeFiles(config).identityPath,
    ...(g.cluster_key !== undefined ? { clusterKey: g.cluster_key } : {}),
    // Twice the cluster's limit: an oversized message must reach our validation (and its
    // counter) instead of being dropped silently inside gossipsub.
    maxMessageBytes: 2 * g.message_max_bytes,
  }
}

/**
 * Membership, broadcast and sync: the preset `gossip.preset` as base, every timing key of
 * `TUNED_KEYS` over it. The advertised API address is set by the agent once the API listens
 * ({@link advertisedApi}).
 */
export function clusterOptionsFrom(config: PatinaConfig): ClusterOptions {
  const g = config.gossip
  const sections = { membership: {}, broadcast: {}, sync: {} } as Record<
    'membership' | 'broadcast' | 'sync',
    Record<string, number>
  >
  for (const [key, section, option] of TUNED_KEYS)
    sections[section][option] = (g as unknown as Record<string, number>)[key] as number
  return {
    clusterId: String(g.cluster_id),
    region: g.region,
    role: 'worker',
    bootstrap: [...g.bootstrap],
    membersPath: nodeFiles(config).membersPath,
    preset: PRESETS[g.preset],
    ...sections,
  }
}

export function apiOptionsFrom(config: PatinaConfig): ApiOptionsInit {
  const l = config.api.limits
  return {
    ...(config.api.endpoint_name !== undefined ? { endpointName: config.api.endpoint_name } : {}),
    bodyLimitBytes: l.body_max_bytes,
    maxStatementsPerTransaction: l.statements_per_tx_max,
    defaultQueryTimeoutSec: l.query_timeout_secs,
    maxTimeoutSec: l.timeout_max_secs,
    mainThreadMaxMs: l.main_thread_max_ms,
    maxTransactionsPerGroup: l.transactions_per_group_max,
    defaultWaitTimeoutMs: l.wait_timeout_default_ms,
    maxWaitTimeoutMs: l.wait_timeout_max_ms,
    maxStreamBufferBytes: l.stream_buffer_max_bytes,
    concurrency: { ...config.api.concurrency },
    tokens: config.api.authorization.tokens.map((t) => ({ token: t.token, role: t.role })),
  }
}

/** Limits of every HTTP listener (`api/server.ts`). */
export function apiServerLimitsFrom(config: PatinaConfig): ApiServerLimits {
  const l = config.api.limits
  return {
    headerTimeoutMs: l.header_timeout_ms,
    bodyTimeoutMs: l.body_timeout_ms,
    idleTimeoutMs: l.idle_timeout_ms,
    connectionsPerAddressMax: l.connections_per_address_max,
    http2MaxStreams: l.http2_max_streams,
  }
}

/** One HTTP listener per `api.addr` entry. */
export function apiListenersFrom(config: PatinaConfig): { addr: string; host: string; port: number }[] {
  return config.api.addr.map((addr) => {
    const hp = parseHostPort(addr)
    if (hp === null)
      throw new PatinaError(
        'PATINA_ERR_CONFIG_INVALID',
        `api.addr value ${JSON.stringify(addr)} is not host:port`,
      )
    return { addr, ...hp }
  })
}

export function hubOptionsFrom(config: PatinaConfig): Partial<SubscriptionHubOptions> {
  const s = config.api.subscriptions
  return {
    retainChanges: s.retention_changes,
    retainMs: s.retention_ms,
    idleMs: s.idle_timeout_ms,
    rerunMaxRows: s.rerun_max_rows,
    statementMaxMs: Math.min(config.api.limits.main_thread_max_ms, config.api.limits.timeout_max_secs * 1000),
    rerunMaxMs: s.rerun_max_ms,
    rerunMaxShare: s.rerun_max_share,
    sqlMaxBytes: s.sql_max_bytes,
  }
}

const WILDCARD = /^(0\.0\.0\.0|::|\[::\])$/

/**
 * The API URL announced to other members: `api.external_addr`, else — for a wildcard listen
 * address — the host of `gossip.external_addr` with the API port, else the first listener.
 */
export function advertisedApi(config: PatinaConfig, apiUrls: readonly string[]): string | null {
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

/** Pause between two rounds of asking peers for this node's own history, ms. */
const OWN_HISTORY_RETRY_MS = 500

/** Everything the agent passes to its components. */
export interface ComponentOptions {
  engine: Omit<StateEngineOptions, 'schema'>
  transport: Libp2pTransportOptions
  hub: Partial<SubscriptionHubOptions>
  api: ApiOptionsInit
  apiServer: ApiServerLimits
  apiListeners: { addr: string; host: string; port: number }[]
  cluster: ClusterOptions
  /** Files next to the database. */
  files: ReturnType<typeof nodeFiles>
  /** The subscription store's database. */
  subscriptionsDbPath: string
  /** The own-history check at start (`sync/own-history.ts`), before the node accepts writes. */
  ownHistory: { waitMs: number; retryMs: number }
  /** Admin socket path. */
  adminPath: string | undefined
  /** Prometheus listener, if any. */
  metricsListener: { host: string; port: number } | null
}

export function componentOptionsFrom(config: PatinaConfig): ComponentOptions {
  const prom = config.telemetry.prometheus.addr
  return {
    engine: engineOptionsFrom(config),
    transport: transportOptionsFrom(config),
    hub: hubOptionsFrom(config),
    api: apiOptionsFrom(config),
    apiServer: apiServerLimitsFrom(config),
    apiListeners: apiListenersFrom(config),
    cluster: clusterOptionsFrom(config),
    files: nodeFiles(config),
    subscriptionsDbPath: nodeFiles(config).subscriptionsDbPath,
    ownHistory: { waitMs: config.db.own_history_wait_ms, retryMs: OWN_HISTORY_RETRY_MS },
    adminPath: config.admin.path,
    metricsListener: prom !== undefined ? parseHostPort(prom) : null,
  }
}
