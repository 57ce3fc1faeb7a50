/**
 * Runs anti-entropy rounds: at start, on (re)join, on demand (`syncNow`) and periodically
 * with jitter, backing off while rounds find nothing new (`plan.ts`). A round syncs with
 * the chosen peers one after the other, letting the apply queue drain in between so that
 * each request describes what we really hold and a backlog is fetched once, not once per peer.
 */
import type { SyncState } from '@patina/core'
import type { RandomSource, TimerHandle } from '../runtime/clock.js'
import { choosePeers, jittered, nextBaseIntervalMs, type RoundOutcome, type SyncCandidate } from './plan.js'
import { syncWith, type SyncDeps, type SyncResult, type SyncSessionOptions } from './session.js'
import { componentLogger } from '../runtime/log.js'

export interface SyncScheduleOptions {
  /** Interval after a round that received changes, ms. */
  minIntervalMs: number
  /** Largest interval while in sync, ms. */
  maxIntervalMs: number
  /** Relative jitter of intervals (0.3 = ±30 %). */
  jitter: number
  /** Members synced with per round. */
  peersPerRound: number
}

export interface SyncScheduler {
  start(): void
  stop(): void
  /** Run a round now (after the current one, if any). */
  syncNow(): Promise<SyncResult[]>
  /** Wake the loop for a round as soon as possible (e.g. on rejoin). */
  trigger(): void
}

export interface SchedulerDeps extends SyncDeps {
  random: RandomSource
  /** Sync candidates: alive members (and connected peers not yet known as members). */
  candidates: () => Omit<SyncCandidate, 'lastSyncAtMs'>[]
}

export function createSyncScheduler(
  deps: SchedulerDeps,
  opts: SyncSessionOptions & SyncScheduleOptions,
): SyncScheduler {
  const { clock, random, queue, engine } = deps
  const log = componentLogger(deps.logger, 'sync')
  const lastSync = new Map<string, number>()
  let running = false
  let baseMs = opts.minIntervalMs
  let timer: TimerHandle | null = null
  let chain: Promise<unknown> = Promise.resolve()
  let roundInFlight = false
  const abort = new AbortController()

  const round = async (): Promise<SyncResult[]> => {
    const ours: SyncState = engine.syncState()
    const candidates = deps.candidates().map((c) => ({ ...c, lastSyncAtMs: lastSync.get(c.peerId) ?? null }))
    const chosen = choosePeers(ours, candidates, opts.peersPerRound, random)
    const results: SyncResult[] = []
    for (const c of chosen) {
      if (!running) break
      await queue.drained()
      const r = await syncWith(deps, opts, c.peerId, abort.signal)
      lastSync.set(c.peerId, clock.now())
      if (r.outcome === 'failed') log.debug({ peer: c.peerId, error: r.error }, 'sync failed')
      results.push(r)
    }
    await queue.drained()
    return results
  }

  const outcomeOf = (results: SyncResult[]): RoundOutcome => {
    if (results.some((r) => r.outcome === 'ok' && r.changesets > 0)) return 'received'
    if (results.some((r) => r.outcome === 'ok')) return 'in_sync'
    return 'failed'
  }

  const runRound = (): Promise<SyncResult[]> => {
    const p = chain.then(async () => {
      roundInFlight = true
      try {
        return await round()
      } finally {
        roundInFlight = false
      }
    })
    chain = p.catch(() => undefined)
    return p
  }

  const schedule = (delayMs: number): void => {
    if (!running) return
    if (timer !== null) clock.clearTimeout(timer)
    timer = clock.setTimeout(() => {
      timer = null
      void loopOnce()
    }, delayMs)
  }

  const loopOnce = async (): Promise<void> => {
    if (!running) return
    let results: SyncResult[] = []
    try {
      results = await runRound()
    } catch (err) {
      log.warn({ err }, 'sync round failed')
    }
    const outcome = outcomeOf(results)
    baseMs = nextBaseIntervalMs(baseMs, outcome, opts)
    if (outcome === 'received') {
      const total = results.reduce((n, r) => n + (r.outcome === 'ok' ? r.changesets : 0), 0)
      log.info({ changesets: total, peers: results.length }, 'sync caught up changes')
    }
    // A session already returns everything the server has that we lack, so even after a
    // catch-up the next round waits minIntervalMs (back-to-back rounds under a steady write
    // rate would only re-fetch what gossip is delivering anyway).
    if (timer === null) schedule(jittered(baseMs, opts.jitter, random))
  }

  return {
    start() {
      if (running) return
      running = true
      schedule(0)
    },
    stop() {
      running = false
      abort.abort(new Error('sync stopped'))
      if (timer !== null) clock.clearTimeout(timer)
      timer = null
    },
    syncNow: () => runRound(),
    trigger() {
      if (!running) return
      baseMs = opts.minIntervalMs
      if (!roundInFlight) schedule(0)
    },
  }
}
