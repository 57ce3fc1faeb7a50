/**
 * Prometheus metrics of the cluster layer (transport, membership, broadcast, apply queue,
 * sync), registered once per injected registry.
 */
import { Counter, Gauge, Histogram } from 'prom-client'
import { perRegistry } from './metric-registry.js'

export interface ClusterMetrics {
  messagesReceived: Counter<'topic'>
  messagesRejected: Counter<'channel' | 'reason'>
  messagesPublished: Counter<'topic'>
  bytesPublished: Counter<'topic'>
  changesetsReceived: Counter<'source'>
  changesetsDuplicate: Counter<'source'>
  changesetsInvalid: Counter<'source'>
  applyQueueSize: Gauge
  applyQueueDropped: Counter
  applyBatches: Counter
  applyChangesets: Counter
  applyErrors: Counter
  applyRefusedVersions: Gauge
  applyBatchSeconds: Histogram
  applyLagSeconds: Histogram
  broadcastBatches: Counter
  broadcastChangesets: Counter
  syncSessions: Counter<'role' | 'result'>
  syncChangesetsSent: Counter
  members: Gauge<'state'>
  membershipTransitions: Counter<'to'>
  probes: Counter<'result'>
}

/** Registered once per registry. */
export const clusterMetrics = perRegistry((registry): ClusterMetrics => {
  const registers = [registry]
  return {
    messagesReceived: new Counter({
      name: 'patina_gossip_messages_received_total',
      help: 'Gossip messages received, by topic',
      labelNames: ['topic'],
      registers,
    }),
    messagesRejected: new Counter({
      name: 'patina_gossip_messages_rejected_total',
      help: 'Messages and frames refused (oversized, malformed, wrong_version, wrong_cluster, wrong_kind), by channel',
      labelNames: ['channel', 'reason'],
      registers,
    }),
    messagesPublished: new Counter({
      name: 'patina_gossip_messages_published_total',
      help: 'Gossip messages published, by topic',
      labelNames: ['topic'],
      registers,
    }),
    bytesPublished: new Counter({
      name: 'patina_gossip_bytes_published_total',
      help: 'Gossip bytes published, by topic',
      labelNames: ['topic'],
      registers,
    }),
    changesetsReceived: new Counter({
      name: 'patina_changesets_received_total',
      help: 'Remote changesets received, by source (gossip, sync)',
      labelNames: ['source'],
      registers,
    }),
    changesetsDuplicate: new Counter({
      name: 'patina_changesets_duplicate_total',
      help: 'Remote changesets dropped as already seen',
      labelNames: ['source'],
      registers,
    }),
    changesetsInvalid: new Counter({
      name: 'patina_changesets_invalid_total',
      help: 'Remote changesets refused by the codec',
      labelNames: ['source'],
      registers,
    }),
    applyQueueSize: new Gauge({
      name: 'patina_apply_queue_size',
      help: 'Changesets waiting to be applied',
      registers,
    }),
    applyQueueDropped: new Counter({
      name: 'patina_apply_queue_dropped_total',
      help: 'Changesets dropped from a full apply queue (sync repairs them)',
      registers,
    }),
    applyBatches: new Counter({
      name: 'patina_apply_batches_total',
      help: 'engine.apply calls made by the apply queue',
      registers,
    }),
    applyChangesets: new Counter({
      name: 'patina_apply_changesets_total',
      help: 'Changesets passed to engine.apply',
      registers,
    }),
    applyErrors: new Counter({
      name: 'patina_apply_errors_total',
      help: 'Changesets the engine refused to apply (each attempt of a refused version counts)',
      registers,
    }),
    applyRefusedVersions: new Gauge({
      name: 'patina_apply_refused_versions',
      help: 'Versions refused when applied and held back until their retry (they count as gaps too)',
      registers,
    }),
    applyBatchSeconds: new Histogram({
      name: 'patina_apply_batch_seconds',
      help: 'Duration of one engine.apply batch',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    applyLagSeconds: new Histogram({
      name: 'patina_apply_lag_seconds',
      help: 'Time a changeset waited in the apply queue',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    broadcastBatches: new Counter({
      name: 'patina_broadcast_batches_total',
      help: 'Batches of local changesets published',
      registers,
    }),
    broadcastChangesets: new Counter({
      name: 'patina_broadcast_changesets_total',
      help: 'Local changesets published',
      registers,
    }),
    syncSessions: new Counter({
      name: 'patina_sync_sessions_total',
      help: 'Anti-entropy sync sessions, by role (client, server) and result',
      labelNames: ['role', 'result'],
      registers,
    }),
    syncChangesetsSent: new Counter({
      name: 'patina_sync_changesets_sent_total',
      help: 'Changesets served to sync clients',
      registers,
    }),
    members: new Gauge({
      name: 'patina_members',
      help: 'Known cluster members by state (this node included)',
      labelNames: ['state'],
      registers,
    }),
    membershipTransitions: new Counter({
      name: 'patina_membership_transitions_total',
      help: 'Member state changes, by new state',
      labelNames: ['to'],
      registers,
    }),
    probes: new Counter({
      name: 'patina_probes_total',
      help: 'Failure-detector probes, by result (ok, indirect_ok, failed)',
      labelNames: ['result'],
      registers,
    }),
  }
})
