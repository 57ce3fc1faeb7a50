/**
 * What the membership parts share: options, dependencies, and the small helpers every part
 * uses (the running flag, refusing a bad message, reading one frame).
 */
import type { Logger } from 'pino'
import type { MemberRole } from '@patina/api'
import type { FramedStream, Transport } from '../transport/transport.js'
import type { ClusterClock, RandomSource } from '../runtime/clock.js'
import { MessageRejectedError } from '../wire/envelope.js'
import type { ClusterMetrics } from '../runtime/metrics.js'
import type { MembershipMetrics } from './metrics.js'
import type { Resolver } from './resolve.js'

export const PROBE_PROTOCOL = '/patina/probe/1'
export const PUSH_PULL_PROTOCOL = '/patina/members/1'
export const membershipTopic = (clusterId: string): string => `/patina/${clusterId}/members/1`

export interface MembershipOptions {
  clusterId: string
  /** Our identity and addresses as other members should see them. */
  self: { actorId: string; apiAddr: string | null; region: string; role: MemberRole }
  /** Entries contacted to join and, for as long as we run, to merge groups (`host:port` or multiaddr). */
  bootstrap: string[]
  /** JSON file remembering known members across restarts; omit to remember nothing. */
  membersPath?: string
  /** Time between two probes (of different members), ms; scaled by local health. */
  probeIntervalMs: number
  /** Time a direct probe may take before indirect probes start, ms; scaled by local health. */
  probeTimeoutMs: number
  /** Members asked to probe a target that did not answer us. */
  indirectProbes: number
  /** Suspicion timeout multiplier (memberlist `SuspicionMult`). */
  suspicionMult: number
  /** Upper bound of the suspicion timeout as a multiple of its minimum. */
  suspicionMaxTimeoutMult: number
  /**
   * Largest local-health multiplier of probe intervals and timeouts (memberlist
   * `AwarenessMaxMultiplier`); 1 turns local health awareness off, the stall rule included.
   */
  awarenessMaxMultiplier: number
  /** Time between two announcements of our record on the membership topic, ms. */
  announceIntervalMs: number
  /** Time between two full-table exchanges with a random member, ms. */
  pushPullIntervalMs: number
  /** Connections kept open to other members (more are accepted). */
  targetConnections: number
  /** Time between two connection-maintenance rounds, ms. */
  maintainIntervalMs: number
  /** First and largest delay between two attempts to reach a bootstrap entry that is not a live member, ms. */
  bootstrapRetryMinMs: number
  bootstrapRetryMaxMs: number
  /** Pace of contacts with bootstrap entries that are live members (merges groups formed apart), ms. */
  bootstrapAnnounceIntervalMs: number
  /** With no other member alive for this long, the node reports itself isolated, ms. */
  isolationAfterMs: number
  /** How long a down or left member is remembered before being forgotten, ms. */
  downRetentionMs: number
  /** Piggyback each state change `ceil(retransmitMult * log10(n + 1))` times. */
  retransmitMult: number
  /** Largest membership message accepted, bytes. */
  maxMessageBytes: number
  /** Delay before writing the members file after a change, ms. */
  persistDebounceMs: number
}

export interface MembershipDeps {
  transport: Transport
  logger: Logger
  metrics: ClusterMetrics
  memberMetrics: MembershipMetrics
  clock: ClusterClock
  random: RandomSource
  /** Our current db_version, announced as a sync-planning hint. */
  dbVersion: () => number
  /** Bootstrap entry → addresses; default: the system resolver (`resolve.ts`). */
  resolve?: Resolver
}

/** The parts' shared environment. */
export interface MembershipEnv {
  readonly opts: MembershipOptions
  readonly transport: Transport
  readonly clock: ClusterClock
  readonly random: RandomSource
  readonly log: Logger
  readonly metrics: ClusterMetrics
  readonly memberMetrics: MembershipMetrics
  readonly selfActor: string
  running(): boolean
}

/** Counts and logs a refused message or frame. */
export function rejected(env: MembershipEnv, channel: string, err: unknown, from: string): void {
  const reason = err instanceof MessageRejectedError ? err.reason : 'malformed'
  env.metrics.messagesRejected.inc({ channel, reason })
  env.log.debug({ from, reason, err: (err as Error).message }, `refused a ${channel} message`)
}

/** The first frame of `stream`, or null when it ends without one. */
export async function readOne(stream: FramedStream): Promise<Uint8Array | null> {
  for await (const f of stream.frames()) return f
  return null
}
