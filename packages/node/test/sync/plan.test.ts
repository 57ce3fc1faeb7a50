import { describe, expect, it } from 'vitest'
import type { SyncState } from '@patina/core'
import {
  choosePeers,
  jittered,
  needScore,
  nextBaseIntervalMs,
  type SyncCandidate,
} from '../../src/sync/plan.js'
import { seededRandom } from '../../src/runtime/clock.js'

const state = (
  heads: Record<string, number>,
  need: SyncState['need'] = {},
  partialNeed: SyncState['partialNeed'] = {},
): SyncState => ({
  actorId: 'me',
  heads,
  need,
  partialNeed,
})
const cand = (
  peerId: string,
  actorId: string | null,
  dbVersion: number,
  lastSyncAtMs: number | null = null,
): SyncCandidate => ({
  peerId,
  actorId,
  dbVersion,
  lastSyncAtMs,
})

describe('sync plan', () => {
  it('scores what we need from a member: versions beyond our head, gaps and partials', () => {
    const ours = state({ a: 10 }, { a: [[3, 5]] }, { a: { 7: [[0, 2]] } })
    expect(needScore(ours, cand('p', 'a', 15))).toBe(5 + 3 + 1)
    expect(needScore(ours, cand('p', 'a', 4))).toBe(3 + 1)
    expect(needScore(ours, cand('p', 'b', 7))).toBe(7)
    expect(needScore(ours, cand('p', null, 100))).toBe(0)
  })

  it('prefers the members we need most from, then the least recently synced', () => {
    const ours = state({ a: 10, b: 10, c: 10 })
    const cs = [cand('pa', 'a', 10, 5), cand('pb', 'b', 50), cand('pc', 'c', 20), cand('pd', 'd', 10, 1)]
    // with a sample of 2 × 2 = 4, every candidate is considered
    const chosen = choosePeers(ours, cs, 2, seededRandom(1)).map((c) => c.peerId)
    expect(chosen).toEqual(['pb', 'pc'])
    const inSync = choosePeers(
      state({ a: 10, d: 10 }),
      [cand('pa', 'a', 10, 500), cand('pd', 'd', 10, 100)],
      1,
      seededRandom(2),
    )
    expect(inSync.map((c) => c.peerId)).toEqual(['pd'])
  })

  it('samples at most 2 × peersPerRound and never returns more than peersPerRound', () => {
    const cs = Array.from({ length: 50 }, (_, i) => cand(`p${i}`, `a${i}`, i))
    const chosen = choosePeers(state({}), cs, 3, seededRandom(3))
    expect(chosen).toHaveLength(3)
    expect(choosePeers(state({}), [], 3, seededRandom(3))).toEqual([])
  })

  it.each([
    [1000, 'received', 1000],
    [1000, 'in_sync', 2000],
    [8000, 'in_sync', 15000],
    [15000, 'in_sync', 15000],
    [4000, 'failed', 8000],
    [15000, 'received', 1000],
  ] as const)('interval after %i ms and a round that %s is %i ms', (prev, outcome, want) => {
    expect(
      nextBaseIntervalMs(prev, outcome, { minIntervalMs: 1000, maxIntervalMs: 15000, jitter: 0.3 }),
    ).toBe(want)
  })

  it('jitters within ±jitter', () => {
    const r = seededRandom(9)
    for (let i = 0; i < 200; i++) {
      const v = jittered(1000, 0.3, r)
      expect(v).toBeGreaterThanOrEqual(700)
      expect(v).toBeLessThanOrEqual(1300)
    }
  })
})
