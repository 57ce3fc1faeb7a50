/**
 * THE timing presets (memberlist's `DefaultLANConfig` → `DefaultLocalConfig`), chosen by the
 * config key `gossip.preset`. A preset is a complete {@link ClusterTuning}: it is the base the
 * cluster starts from, and the `gossip.*` keys of {@link TUNED_KEYS} override it.
 *
 * The loader layers a preset's values for those keys between the schema defaults and the TOML
 * file ({@link presetConfig}), so `config.gossip.probe_interval_ms` is the value that runs, and a
 * file can still override any key. The schema defaults are the `lan` preset (a test keeps them
 * equal).
 */
import type { ClusterTuning } from '../runtime/cluster.js'
import type { ConfigInput } from './schema.js'

const KiB = 1024
const MiB = 1024 * KiB

/**
 * gossipsub's mesh (`transport/libp2p.ts`): the degree D with its bounds, and the heartbeat that
 * repairs the mesh and sends lazy gossip (IHAVE). A publisher sends each message to every
 * connected member (flood publish); the mesh only carries the forwarded copies, which are
 * duplicates wherever the publisher reached everyone. Chosen by measurement (docs/benchmarks.md).
 */
export interface MeshTuning {
  degree: number
  degreeLow: number
  degreeHigh: number
  heartbeatMs: number
}

/** A preset: the cluster's timings and the gossipsub mesh of its transport. */
export type PresetTuning = ClusterTuning & { mesh: MeshTuning }

/** Timings for a LAN / data-centre cluster (memberlist `DefaultLANConfig` in spirit). */
const LAN: PresetTuning = {
  mesh: { degree: 6, degreeLow: 4, degreeHigh: 12, heartbeatMs: 1000 }, // gossipsub's defaults
  membership: {
    probeIntervalMs: 1000, // one member probed per second
    probeTimeoutMs: 500, // then ask indirectProbes others
    indirectProbes: 3,
    suspicionMult: 4, // suspect → down after 4 × log10(n) probe intervals (fewer with confirmations)
    suspicionMaxTimeoutMult: 6, // without confirmations, up to 6 × that
    awarenessMaxMultiplier: 8, // a node slow to process probes widens its timeouts up to 8 × (Lifeguard)
    announceIntervalMs: 1000, // our record (and piggybacked changes) on the membership topic
    pushPullIntervalMs: 30_000, // full table exchange with one random peer
    targetConnections: 12,
    maintainIntervalMs: 2000,
    bootstrapRetryMinMs: 500, // a bootstrap entry that is not a live member: retried from 0.5 s…
    bootstrapRetryMaxMs: 30_000, // …backing off to every 30 s, forever
    bootstrapAnnounceIntervalMs: 60_000, // a bootstrap entry that is a live member: contacted every minute
    isolationAfterMs: 15_000, // no other member alive for this long: report isolation
    downRetentionMs: 48 * 3600_000, // Corrosion keeps down members 2 days
    retransmitMult: 4, // piggyback a change 4 × log10(n + 1) times
    maxMessageBytes: 1 * MiB,
    persistDebounceMs: 1000,
  },
  broadcast: {
    maxMessageBytes: 1 * MiB,
    maxChangesetsPerMessage: 4096,
    maxBatchBytes: 256 * KiB,
    maxBatchDelayMs: 5, // a lone write is published at once; bursts coalesce in 5 ms windows
    seenCacheSize: 200_000,
    unknownPublisherHoldMs: 30_000, // a joining node's first writes wait for its member record
  },
  apply: {
    maxQueueChangesets: 100_000,
    maxQueueBytes: 256 * MiB,
    maxBatchChangesets: 4000,
    maxBatchBytes: 16 * MiB,
    batchDelayMs: 0,
  },
  sync: {
    minIntervalMs: 1000, // Corrosion min_sync_backoff
    maxIntervalMs: 15_000, // Corrosion max_sync_backoff
    jitter: 0.3,
    peersPerRound: 3,
    maxFrameBytes: 4 * MiB,
    maxChunkBytes: 64 * KiB,
    maxChangesetsPerFrame: 4096,
    maxConcurrentServe: 3, // Corrosion serves 3 syncs at once
    sessionTimeoutMs: 300_000,
    idleTimeoutMs: 30_000,
  },
  stopTimeoutMs: 5000,
  leaveGraceMs: 200,
}

/**
 * Several nodes on one host (`patina dev`, loopback, Docker): faster sync and failure
 * detection, so that a killed node is noticed and a restarted one catches up within seconds.
 */
const LOCAL: PresetTuning = {
  ...LAN,
  // Everyone is connected to everyone here and the publisher floods: forwarded copies are
  // duplicates. D = 3 halved the CPU per message of 10 nodes against D = 6 (docs/benchmarks.md,
  // issue 17 §3), every copy still delivered.
  mesh: { degree: 3, degreeLow: 2, degreeHigh: 4, heartbeatMs: 1000 },
  membership: {
    ...LAN.membership,
    probeIntervalMs: 500, // loopback round trips are sub-millisecond
    probeTimeoutMs: 200,
    suspicionMult: 3, // a killed node is shown down after a few seconds
    announceIntervalMs: 500,
    maintainIntervalMs: 1000,
    bootstrapRetryMinMs: 200,
    bootstrapRetryMaxMs: 5000,
    bootstrapAnnounceIntervalMs: 20_000,
    isolationAfterMs: 10_000,
  },
  sync: { ...LAN.sync, minIntervalMs: 500, maxIntervalMs: 5000 }, // catch up quickly after a restart
}

/** Short intervals for tests (seconds of virtual or real time per scenario). */
const TEST: PresetTuning = {
  mesh: { ...LAN.mesh },
  membership: {
    ...LAN.membership,
    probeIntervalMs: 200,
    probeTimeoutMs: 100,
    indirectProbes: 2,
    suspicionMult: 4,
    suspicionMaxTimeoutMult: 3,
    announceIntervalMs: 300,
    pushPullIntervalMs: 2000,
    maintainIntervalMs: 300,
    bootstrapRetryMinMs: 100,
    bootstrapRetryMaxMs: 2000,
    bootstrapAnnounceIntervalMs: 3000,
    isolationAfterMs: 2000,
    downRetentionMs: 600_000,
    persistDebounceMs: 50,
  },
  broadcast: { ...LAN.broadcast, maxBatchDelayMs: 5, unknownPublisherHoldMs: 2000 },
  apply: { ...LAN.apply },
  sync: {
    ...LAN.sync,
    minIntervalMs: 200,
    maxIntervalMs: 2000,
    sessionTimeoutMs: 60_000,
    idleTimeoutMs: 10_000,
  },
  stopTimeoutMs: 2000,
  leaveGraceMs: 50,
}

export const PRESET_NAMES = ['lan', 'local', 'test'] as const
export type PresetName = (typeof PRESET_NAMES)[number]

/** Preset name → complete cluster timings. */
export const PRESETS: Readonly<Record<PresetName, Readonly<PresetTuning>>> = {
  lan: LAN,
  local: LOCAL,
  test: TEST,
}

export const isPresetName = (v: unknown): v is PresetName =>
  typeof v === 'string' && (PRESET_NAMES as readonly string[]).includes(v)

type Section = 'membership' | 'broadcast' | 'sync' | 'mesh'

/**
 * The `gossip.*` keys that set a cluster timing: key, component section, option. The one table
 * both directions read: `config/options.ts` (config → cluster options) and {@link presetConfig}
 * (preset → config values). `message_max_bytes` sets two options. The `mesh` rows go to the
 * transport, the others to the cluster.
 */
export const TUNED_KEYS: readonly (readonly [key: string, section: Section, option: string])[] = [
  ['probe_interval_ms', 'membership', 'probeIntervalMs'],
  ['probe_timeout_ms', 'membership', 'probeTimeoutMs'],
  ['indirect_probes', 'membership', 'indirectProbes'],
  ['suspicion_mult', 'membership', 'suspicionMult'],
  ['isolation_after_ms', 'membership', 'isolationAfterMs'],
  ['message_max_bytes', 'membership', 'maxMessageBytes'],
  ['broadcast_batch_delay_ms', 'broadcast', 'maxBatchDelayMs'],
  ['broadcast_batch_max_bytes', 'broadcast', 'maxBatchBytes'],
  ['message_max_bytes', 'broadcast', 'maxMessageBytes'],
  ['sync_interval_min_ms', 'sync', 'minIntervalMs'],
  ['sync_interval_max_ms', 'sync', 'maxIntervalMs'],
  ['sync_peers', 'sync', 'peersPerRound'],
  ['sync_chunk_max_bytes', 'sync', 'maxChunkBytes'],
  ['sync_timeout_ms', 'sync', 'idleTimeoutMs'],
  ['mesh_degree', 'mesh', 'degree'],
  ['mesh_degree_low', 'mesh', 'degreeLow'],
  ['mesh_degree_high', 'mesh', 'degreeHigh'],
  ['mesh_heartbeat_ms', 'mesh', 'heartbeatMs'],
]

/** A preset's timing as a config key would hold it. */
export function tunedValue(tuning: Readonly<PresetTuning>, section: Section, option: string): number {
  return (tuning[section] as unknown as Record<string, number>)[option] as number
}

/**
 * The config layer of a preset: the `gossip.*` keys whose value differs from the schema
 * defaults (`lan`), layered under the file by the loader.
 */
export function presetConfig(name: PresetName): ConfigInput {
  const gossip: Record<string, number> = {}
  for (const [key, section, option] of TUNED_KEYS) {
    const v = tunedValue(PRESETS[name], section, option)
    if (v !== tunedValue(PRESETS.lan, section, option)) gossip[key] = v
  }
  return Object.keys(gossip).length === 0 ? {} : ({ gossip } as ConfigInput)
}
