/**
 * The worker cluster: membership (SWIM), broadcast of local changes, the apply queue for
 * remote changes, and anti-entropy sync, over one {@link Transport}.
 *
 * @example
 * ```ts
 * const transport = createLibp2pTransport({ listen: ['127.0.0.1:8787'], identityPath: 'data/node.key' })
 * const cluster = createCluster(
 *   { engine, transport, logger, registry },
 *   { clusterId: 'prod', bootstrap: ['10.0.0.2:8787'], membersPath: 'data/members.json', preset: PRESETS.lan },
 * )
 * cluster.setApiAddr('http://10.0.0.1:8080') // once the API listens, before start()
 * await cluster.start()
 * const { changesets } = engine.transaction(statements)
 * cluster.publishLocal(changesets) // the agent does this from the engine's commit listener
 * ```
 *
 * The cluster owns the transport's lifecycle: `start()` starts it and `stop()` stops it.
 */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { MemberInfo, MemberRole } from '@patina/api'
import { PatinaError } from '@patina/api'
import type { Changeset, StateEngine } from '@patina/core'
import type { Transport } from '../transport/transport.js'
import { sleep, systemClock, type ClusterClock, type RandomSource } from './clock.js'
import { clusterMetrics } from './metrics.js'
import {
  createMembership,
  type IsolationStatus,
  type Membership,
  type MembershipOptions,
} from '../membership/membership.js'
import type { Transition } from '../membership/members.js'
import { membershipMetrics } from '../membership/metrics.js'
import { withContactTracking } from '../membership/contact-transport.js'
import type { Resolver } from '../membership/resolve.js'
import { createApplyQueue, type ApplyQueue, type ApplyQueueOptions } from '../broadcast/apply-queue.js'
import { createBroadcaster, type BroadcastOptions, type Broadcaster } from '../broadcast/broadcaster.js'
import { SYNC_PROTOCOL, createSyncServer, type SyncResult, type SyncSessionOptions } from '../sync/session.js'
import { createSyncScheduler, type SyncScheduleOptions } from '../sync/scheduler.js'
import { componentLogger } from './log.js'

export type { Transition as MemberTransition } from '../membership/members.js'
export type { SyncResult } from '../sync/session.js'
export type { IsolationStatus } from '../membership/membership.js'

export interface ClusterDeps {
  engine: StateEngine
  /** Started by `cluster.start()`, stopped by `cluster.stop()`. */
  transport: Transport
  logger: Logger
  /** prom-client registry the cluster registers its `patina_*` metrics on. */
  registry: Registry
  clock?: ClusterClock
  /** Random source in [0, 1); seed it for reproducible simulations. Default Math.random. */
  random?: RandomSource
  /** Bootstrap entry → addresses to dial (default: the system resolver, again on every attempt). */
  resolve?: Resolver
}

type MembershipTuning = Omit<MembershipOptions, 'clusterId' | 'self' | 'bootstrap' | 'membersPath'>
type BroadcastTuning = Omit<BroadcastOptions, 'clusterId'>
type SyncTuning = Omit<SyncSessionOptions, 'clusterId'> & SyncScheduleOptions

export interface ClusterTuning {
  membership: MembershipTuning
  broadcast: BroadcastTuning
  apply: ApplyQueueOptions
  sync: SyncTuning
  /** Longest `stop()` waits for queued remote changes to be applied, ms. */
  stopTimeoutMs: number
  /** Time `stop()` leaves for the "left" announcement to go out before closing connections, ms. */
  leaveGraceMs: number
}

export interface ClusterOptions {
  /** Cluster name: topics, envelopes and sync are scoped to it; other clusters are refused. Default `"default"`. */
  clusterId?: string
  /** Our HTTP API address as shown to other members (or set later with `setApiAddr`). */
  apiAddr?: string | null
  region?: string
  role?: MemberRole
  /** Addresses dialed to join (`host:port` or multiaddr; peer id optional). */
  bootstrap?: string[]
  /** JSON file where known members are remembered across restarts (next to the database). */
  membersPath?: string
  /** Base timings: one of `config/presets.ts` (`PRESETS.lan`, …); the options below override it. */
  preset: Readonly<ClusterTuning>
  /** Overrides of the preset, per component. */
  membership?: Partial<MembershipTuning>
  broadcast?: Partial<BroadcastTuning>
  apply?: Partial<ApplyQueueOptions>
  sync?: Partial<SyncTuning>
  stopTimeoutMs?: number
  leaveGraceMs?: number
}

export interface ClusterStats {
  /** Remote changesets waiting to be applied. */
  queueSize: number
  /** p99 of (apply time − transaction timestamp) over recent remote changesets, seconds. */
  p99LagSec: number
}

export interface Cluster {
  start(): Promise<void>
  /**
   * Graceful: flush pending broadcasts, announce leaving, finish queued applies (bounded by
   * `stopTimeoutMs`), wait `leaveGraceMs`, stop the transport. Under a virtual clock, advance
   * the clock while awaiting it.
   */
  stop(): Promise<void>
  /**
   * Our HTTP API address in the member record, once the API listens (its port may be chosen
   * by the system). Only before `start()`: the record is announced from then on.
   */
  setApiAddr(addr: string | null): void
  /**
   * Broadcast the changesets of a local transaction (`TransactionResult.changesets`); the agent
   * calls it from the engine's commit listener. Dropped unless started (sync catches up).
   */
  publishLocal(changesets: readonly Changeset[]): void
  /** The membership view (ourselves included). */
  members(): MemberInfo[]
  stats(): ClusterStats
  /** Run an anti-entropy round now; resolves with each peer's result. */
  syncNow(): Promise<SyncResult[]>
  /** Listen to member state changes. Returns an unsubscribe function. */
  onMembersChanged(listener: (t: Transition) => void): () => void
  /** How current this node is: isolation, time since last contact, reachable members. */
  isolation(): IsolationStatus
  /** The resolved tuning (preset + overrides). */
  readonly tuning: ClusterTuning
}

function positive(key: string, value: number, min = 0): void {
  if (!Number.isFinite(value) || value < min) {
    throw new PatinaError(
      'PATINA_ERR_CONFIG_INVALID',
      `cluster option ${key} value ${value} is below the minimum ${min}`,
    )
  }
}

/** Merges a preset with overrides and checks every number (options may come from code, not only from config). */
export function resolveClusterTuning(
  opts: Pick<
    ClusterOptions,
    'preset' | 'membership' | 'broadcast' | 'apply' | 'sync' | 'stopTimeoutMs' | 'leaveGraceMs'
  >,
): ClusterTuning {
  const base = opts.preset
  const t: ClusterTuning = {
    membership: { ...base.membership, ...opts.membership },
    broadcast: { ...base.broadcast, ...opts.broadcast },
    apply: { ...base.apply, ...opts.apply },
    sync: { ...base.sync, ...opts.sync },
    stopTimeoutMs: opts.stopTimeoutMs ?? base.stopTimeoutMs,
    leaveGraceMs: opts.leaveGraceMs ?? base.leaveGraceMs,
  }
  for (const [section, values] of Object.entries(t)) {
    if (typeof values === 'number') positive(section, values)
    else
      for (const [k, v] of Object.entries(values as Record<string, number>))
        positive(`${section}.${k}`, v, k.endsWith('Ms') || ZERO_OK.has(k) ? 0 : 1)
  }
  if (t.sync.minIntervalMs > t.sync.maxIntervalMs) {
    throw new PatinaError(
      'PATINA_ERR_CONFIG_INVALID',
      `cluster option sync.minIntervalMs value ${t.sync.minIntervalMs} is above sync.maxIntervalMs ${t.sync.maxIntervalMs}`,
    )
  }
  if (t.sync.jitter >= 1) {
    throw new PatinaError(
      'PATINA_ERR_CONFIG_INVALID',
      `cluster option sync.jitter value ${t.sync.jitter} must be below 1`,
    )
  }
  return t
}

/** Options where 0 is meaningful (0 indirect probes; 0 sync sessions served = never serve). */
const ZERO_OK = new Set(['jitter', 'indirectProbes', 'maxConcurrentServe'])

const CLUSTER_ID = /^[A-Za-z0-9._-]{1,64}$/

export function createCluster(deps: ClusterDeps, opts: ClusterOptions): Cluster {
  const clusterId = opts.clusterId ?? 'default'
  if (!CLUSTER_ID.test(clusterId)) {
    throw new PatinaError(
      'PATINA_ERR_CONFIG_INVALID',
      `cluster id "${clusterId}" must be 1-64 characters of A-Z a-z 0-9 . _ -`,
    )
  }
  const tuning = resolveClusterTuning(opts)
  const { engine } = deps
  const clock = deps.clock ?? systemClock
  const random = deps.random ?? Math.random
  const logger = componentLogger(deps.logger, 'cluster', { cluster: clusterId })
  const metrics = clusterMetrics(deps.registry)
  // Every component sees the transport through this wrapper: anything received from a member
  // (gossip, sync, probes) counts as contact for isolation and `last_contact_ms`.
  const transport = withContactTracking(deps.transport, (peer) => membership?.noteContact(peer))

  const queue: ApplyQueue = createApplyQueue({ engine, logger, metrics, clock }, tuning.apply)
  const broadcaster: Broadcaster = createBroadcaster(
    { transport, engine, queue, logger, metrics, clock, actorOfPeer: (p) => membership?.actorOfPeer(p) },
    { ...tuning.broadcast, clusterId },
  )
  const syncOpts = { ...tuning.sync, clusterId }
  const syncDeps = { engine, transport, queue, logger, metrics, clock }
  const syncServer = createSyncServer(syncDeps, syncOpts)
  const dbVersion = (): number => {
    try {
      return engine.stats().version
    } catch {
      return 0
    }
  }
  let membership: Membership | null = null
  const memberListeners = new Set<(t: Transition) => void>()

  const candidates = () => {
    const m = membership
    if (m === null) return []
    const alive = m.alive()
    const known = new Set(alive.map((x) => x.record.peerId))
    const out = alive.map((x) => ({
      peerId: x.record.peerId,
      actorId: x.record.actorId,
      dbVersion: x.record.dbVersion,
    }))
    // connected peers not (yet) known as members are candidates too, with nothing known about them
    for (const p of transport.connectedPeers()) {
      if (!known.has(p) && m.actorOfPeer(p) === undefined) out.push({ peerId: p, actorId: '', dbVersion: 0 })
    }
    return out.map((c) => ({ ...c, actorId: c.actorId === '' ? null : c.actorId }))
  }
  const scheduler = createSyncScheduler({ ...syncDeps, random, candidates }, syncOpts)
  let started = false
  let apiAddr = opts.apiAddr ?? null

  return {
    tuning,
    async start() {
      if (started) return
      started = true
      await transport.start()
      membership = createMembership(
        {
          transport,
          logger,
          metrics,
          memberMetrics: membershipMetrics(deps.registry),
          clock,
          random,
          dbVersion,
          ...(deps.resolve !== undefined ? { resolve: deps.resolve } : {}),
        },
        {
          ...tuning.membership,
          clusterId,
          self: {
            actorId: engine.actorId,
            apiAddr,
            region: opts.region ?? '',
            role: opts.role ?? 'worker',
          },
          bootstrap: opts.bootstrap ?? [],
          ...(opts.membersPath !== undefined ? { membersPath: opts.membersPath } : {}),
        },
      )
      broadcaster.start()
      transport.handle(SYNC_PROTOCOL, (s) => syncServer.handle(s))
      membership.onJoin(() => scheduler.trigger())
      membership.onChange((t) => {
        if (t.to === 'alive' && t.from !== 'alive') scheduler.trigger()
        for (const l of [...memberListeners]) {
          try {
            l(t)
          } catch (err) {
            logger.warn({ err }, 'members listener failed')
          }
        }
      })
      await membership.start()
      scheduler.start()
      logger.info(
        { peerId: transport.peerId, addrs: transport.addresses(), bootstrap: opts.bootstrap ?? [] },
        'cluster started',
      )
    },
    async stop() {
      if (!started) return
      started = false
      scheduler.stop()
      syncServer.stop()
      await broadcaster.stop()
      await membership?.stop()
      let timer: ReturnType<ClusterClock['setTimeout']> | undefined
      await Promise.all([
        Promise.race([
          queue.drained(),
          new Promise<void>((resolve) => {
            timer = clock.setTimeout(resolve, tuning.stopTimeoutMs)
          }),
        ]),
        // let the "left" announcement leave before the connections close
        sleep(clock, tuning.leaveGraceMs),
      ])
      if (timer !== undefined) clock.clearTimeout(timer)
      queue.stop()
      await transport.stop()
      logger.info('cluster stopped')
    },
    setApiAddr(addr) {
      if (membership !== null)
        throw new PatinaError('PATINA_ERR_INTERNAL', 'cluster.setApiAddr is called after start()')
      apiAddr = addr
    },
    publishLocal(changesets) {
      broadcaster.publishLocal(changesets)
    },
    members() {
      return membership?.members() ?? []
    },
    stats() {
      return { queueSize: queue.size(), p99LagSec: queue.p99LagSec() }
    },
    syncNow: () => scheduler.syncNow(),
    onMembersChanged(listener) {
      memberListeners.add(listener)
      return () => memberListeners.delete(listener)
    },
    isolation() {
      return membership?.isolation() ?? { isolated: false, lastContactMs: null, reachableMembers: 0 }
    },
  }
}
