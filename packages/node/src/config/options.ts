/**
 * From the frozen config to each component's options: the one place where config key names
 * (Corrosion's snake_case, units in names) meet the components' option names. Pure.
 */
import { dirname, join } from 'node:path'
import type { ApiOptionsInit } from '../api/options.js'
import type { ClusterOptions } from '../cluster.js'
import type { SubscriptionHubOptions } from '../subs/options.js'
import type { Libp2pTransportOptions } from '../transport/libp2p.js'
import type { PatinaConfig } from './schema.js'

/** Files kept next to the database. */
export function nodeFiles(config: PatinaConfig): { identityPath: string; membersPath: string } {
  const dir = dirname(config.db.path)
  return { identityPath: join(dir, 'node.key'), membersPath: join(dir, 'members.json') }
}

export function transportOptionsFrom(config: PatinaConfig): Libp2pTransportOptions {
  const g = config.gossip
  return {
    listen: [g.addr],
    ...(g.external_addr !== undefined ? { announce: [g.external_addr] } : {}),
    identityPath: nodeFiles(config).identityPath,
    ...(g.cluster_key !== undefined ? { clusterKey: g.cluster_key } : {}),
    maxMessageBytes: g.message_max_bytes,
  }
}

export function clusterOptionsFrom(config: PatinaConfig): ClusterOptions {
  const g = config.gossip
  return {
    clusterId: String(g.cluster_id),
    apiAddr: config.api.addr[0] ?? null,
    region: g.region,
    role: 'worker',
    bootstrap: [...g.bootstrap],
    membersPath: nodeFiles(config).membersPath,
    membership: {
      probeIntervalMs: g.probe_interval_ms,
      probeTimeoutMs: g.probe_timeout_ms,
      indirectProbes: g.indirect_probes,
      suspicionMult: g.suspicion_mult,
      isolationAfterMs: g.isolation_after_ms,
      maxMessageBytes: g.message_max_bytes,
    },
    broadcast: {
      maxBatchDelayMs: g.broadcast_batch_delay_ms,
      maxBatchBytes: g.broadcast_batch_max_bytes,
      maxMessageBytes: g.message_max_bytes,
    },
    sync: {
      minIntervalMs: g.sync_interval_min_ms,
      maxIntervalMs: g.sync_interval_max_ms,
      peersPerRound: g.sync_peers,
      maxChunkBytes: g.sync_chunk_max_bytes,
      idleTimeoutMs: g.sync_timeout_ms,
    },
  }
}

export function apiOptionsFrom(config: PatinaConfig): ApiOptionsInit {
  const l = config.api.limits
  return {
    bodyLimitBytes: l.body_max_bytes,
    maxStatementsPerTransaction: l.statements_per_tx_max,
    defaultQueryTimeoutSec: l.query_timeout_secs,
    defaultWaitTimeoutMs: l.wait_timeout_default_ms,
    maxWaitTimeoutMs: l.wait_timeout_max_ms,
    maxStreamBufferBytes: l.stream_buffer_max_bytes,
    concurrency: { ...config.api.concurrency },
    tokens: config.api.authorization.tokens.map((t) => ({ token: t.token, role: t.role })),
  }
}

export function hubOptionsFrom(config: PatinaConfig): Partial<SubscriptionHubOptions> {
  const s = config.api.subscriptions
  return {
    retainChanges: s.retention_changes,
    retainMs: s.retention_ms,
    idleMs: s.idle_timeout_ms,
    rerunMaxRows: s.rerun_max_rows,
    rerunMaxMs: s.rerun_max_ms,
    rerunMaxShare: s.rerun_max_share,
  }
}
