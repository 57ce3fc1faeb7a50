/**
 * Pure decisions of anti-entropy sync: which members to sync with, and when.
 *
 * Peer choice (after Corrosion's `sync_loop`): sample `2 × peersPerRound` candidates at
 * random, order them by how much we need from them (their announced db_version beyond
 * what we hold of their actor, plus our gaps and partials of that actor), then by the
 * oldest last sync, and keep `peersPerRound`.
 *
 * Interval: `minIntervalMs` after a round that received changes or failed, doubling up to
 * `maxIntervalMs` while rounds find nothing new; ±`jitter` randomised.
 */
import type { SyncState } from '@patina/core'
import type { RandomSource } from '../runtime/clock.js'
import { shuffled } from '../runtime/clock.js'

export interface SyncCandidate {
  peerId: string
  /** Actor id of the member, when known. */
  actorId: string | null
  /** The member's announced db_version (0 when unknown). */
  dbVersion: number
  /** When we last synced with it (ms), or null. */
  lastSyncAtMs: number | null
}

/** How many versions we likely lack that `c` can give us (a lower bound; 0 when unknown). */
export function needScore(ours: SyncState, c: SyncCandidate): number {
  if (c.actorId === null) return 0
  const head = ours.heads[c.actorId] ?? 0
  let score = Math.max(0, c.dbVersion - head)
  for (const [a, b] of ours.need[c.actorId] ?? []) score += b - a + 1
  score += Object.keys(ours.partialNeed[c.actorId] ?? {}).length
  return score
}

export function choosePeers(
  ours: SyncState,
  candidates: readonly SyncCandidate[],
  peersPerRound: number,
  random: RandomSource,
): SyncCandidate[] {
  const sample = shuffled(candidates, random).slice(0, peersPerRound * 2)
  const scored = sample.map((c) => ({ c, score: needScore(ours, c) }))
  scored.sort(
    (x, y) => y.score - x.score || (x.c.lastSyncAtMs ?? -Infinity) - (y.c.lastSyncAtMs ?? -Infinity),
  )
  return scored.slice(0, peersPerRound).map((s) => s.c)
}

export type RoundOutcome = 'received' | 'in_sync' | 'failed'

export interface IntervalPolicy {
  minIntervalMs: number
  maxIntervalMs: number
  /** Relative jitter, e.g. 0.3 for ±30 %. */
  jitter: number
}

/** The un-jittered interval after a round with `outcome`, given the previous one. */
export function nextBaseIntervalMs(prevMs: number, outcome: RoundOutcome, p: IntervalPolicy): number {
  if (outcome === 'received') return p.minIntervalMs
  return Math.min(p.maxIntervalMs, Math.max(p.minIntervalMs, prevMs * 2))
}

export function jittered(ms: number, jitter: number, random: RandomSource): number {
  return Math.max(0, Math.round(ms * (1 - jitter + 2 * jitter * random())))
}
