/**
 * The start-up check of this node's own history: before a node with an existing actor id
 * accepts writes, it asks peers whether they know versions of its actor beyond its head (a
 * database restored from an older copy, a VM snapshot, an OS crash that rolled back commits
 * under `synchronous = NORMAL`). Sync answers that question: a peer serves a node the versions of
 * its own actor beyond its head like any other versions, and the engine takes them back and
 * continues its numbering after them. So the check is a sync session with one peer that
 * completes.
 *
 * It runs on a transport of its own before the cluster starts (the cluster's membership record
 * carries the actor id, which may change here), serving sync too, so that nodes of a cluster
 * restarted all at once confirm each other. When no peer answers within `waitMs`, the node takes
 * a new actor id: it cannot tell an old copy from a current one, and a new id can never reuse a
 * version number (its old actor's versions remain, served like any other actor's). A node with a
 * fresh actor id, or with nobody to ask, skips the check.
 */
import type { Logger } from 'pino'
import type { StateEngine } from '@patina/core'
import { createApplyQueue } from '../broadcast/apply-queue.js'
import { componentLogger } from '../runtime/log.js'
import { loadMembers } from '../membership/store.js'
import type { ClusterMetrics } from '../runtime/metrics.js'
import { sleep, type ClusterClock } from '../runtime/clock.js'
import type { Transport } from '../transport/transport.js'
import { SYNC_PROTOCOL, createSyncServer, syncWith, type SyncSessionOptions } from './session.js'

/** `trusted`: `db.own_history_wait_ms = 0`, the operator vouches for the database. */
export type OwnHistoryPlan = 'fresh' | 'alone' | 'trusted' | 'check'

/** Most peers asked in one attempt. */
const MAX_PEERS = 5

/**
 * Pure: whether the check is needed. A fresh actor id (new database, or a copy stripped of its
 * identity by `patina backup`/`restore`) has no versions anyone else could hold; a node with no
 * bootstrap entry and no remembered member has nobody to ask.
 */
export function ownHistoryPlan(facts: {
  actorCreated: boolean
  addresses: number
  waitMs: number
}): OwnHistoryPlan {
  if (facts.actorCreated) return 'fresh'
  if (facts.waitMs === 0) return 'trusted'
  if (facts.addresses === 0) return 'alone'
  return 'check'
}

/**
 * Gossip addresses of the members remembered in `members.json` (not those that left): with the
 * bootstrap entries, whom the check asks.
 */
export function rememberedAddresses(membersPath: string): string[] {
  const saved = loadMembers(membersPath)
  if (saved === null) return []
  return saved.members.filter((m) => m.state !== 'left').flatMap((m) => m.record.addrs)
}

export interface OwnHistoryResult {
  /** `confirmed`: a peer answered (its versions of our actor, if any, are applied); `renewed`: nobody did. */
  outcome: OwnHistoryPlan | 'confirmed' | 'renewed'
  /** The actor id after the check. */
  actorId: string
  /** The peer that answered, when one did. */
  peer: string | null
  /** Our own db_version before and after (higher after: versions learned back from a peer). */
  versionBefore: number
  versionAfter: number
}

export interface OwnHistoryDeps {
  engine: StateEngine
  /** Started here and stopped before returning (the cluster starts its own afterwards). */
  transport: Transport
  logger: Logger
  metrics: ClusterMetrics
  clock: ClusterClock
}

export interface OwnHistoryOptions {
  /** Addresses to ask: bootstrap entries and remembered members' gossip addresses. */
  addresses: string[]
  /** Longest wait for a peer to answer, ms; then a new actor id. */
  waitMs: number
  /** Pause between attempts, ms. */
  retryMs: number
  sync: SyncSessionOptions
}

export async function checkOwnHistory(
  deps: OwnHistoryDeps,
  opts: OwnHistoryOptions,
): Promise<OwnHistoryResult> {
  const { engine, transport, clock } = deps
  const log = componentLogger(deps.logger, 'own-history')
  const versionBefore = engine.stats().version
  const plan = ownHistoryPlan({
    actorCreated: engine.actorCreated,
    addresses: opts.addresses.length,
    waitMs: opts.waitMs,
  })
  const done = (outcome: OwnHistoryResult['outcome'], peer: string | null = null): OwnHistoryResult => ({
    outcome,
    actorId: engine.actorId,
    peer,
    versionBefore,
    versionAfter: engine.stats().version,
  })
  if (plan !== 'check') return done(plan)
  const queue = createApplyQueue(
    { engine, logger: deps.logger, metrics: deps.metrics, clock },
    {
      maxQueueChangesets: 10_000,
      maxQueueBytes: 64 * 1024 * 1024,
      maxBatchChangesets: 1000,
      maxBatchBytes: 16 * 1024 * 1024,
      batchDelayMs: 0,
    },
  )
  const syncDeps = { engine, transport, queue, logger: deps.logger, metrics: deps.metrics, clock }
  const server = createSyncServer(syncDeps, opts.sync)
  await transport.start()
  transport.handle(SYNC_PROTOCOL, (s) => server.handle(s))
  const deadline = clock.now() + opts.waitMs
  let answered: string | null = null
  try {
    while (answered === null && clock.now() < deadline) {
      await Promise.all(
        opts.addresses.map((a) =>
          transport
            .dial(a, { signal: AbortSignal.timeout(Math.max(100, Math.min(2000, opts.waitMs))) })
            .catch(() => undefined),
        ),
      )
      // Every peer reached (up to a few): one that answers is enough, more see more.
      for (const peer of transport.connectedPeers().slice(0, MAX_PEERS)) {
        const r = await syncWith(syncDeps, opts.sync, peer)
        if (r.outcome === 'ok') answered ??= peer
        else log.debug({ peer, result: r }, 'no answer from a peer yet')
      }
      if (answered === null) await sleep(clock, opts.retryMs)
    }
    await queue.drained()
  } finally {
    server.stop()
    queue.stop()
    await transport.stop()
  }
  if (answered !== null) {
    const r = done('confirmed', answered)
    if (r.versionAfter > r.versionBefore) {
      log.warn(
        { actor: r.actorId, from: r.versionBefore, to: r.versionAfter, peer: answered },
        'peers knew versions of this node beyond its database (restored from an older copy, or commits lost in a crash): took them back; new writes continue after them',
      )
    }
    return r
  }
  const old = engine.actorId
  engine.renewActor()
  log.warn(
    { oldActor: old, actor: engine.actorId, waitedMs: opts.waitMs, addresses: opts.addresses },
    "no peer answered the start-up check of this node's own versions: took a new actor id so that no version number can be issued twice (the old actor's versions stay and replicate as any other's)",
  )
  return done('renewed')
}
