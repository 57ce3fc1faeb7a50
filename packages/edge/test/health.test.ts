import { describe, expect, it } from 'vitest'
import type { LiveStatus } from '@patina/client'
import { edgeHealth, NOT_STARTED, queryHealth, type StaleReason } from '../src/health.js'

function status(over: Partial<LiveStatus> = {}): LiveStatus {
  return {
    state: 'live',
    worker: 'http://w:1',
    subscriptionId: 's1',
    changeId: 3,
    synced: true,
    hasState: true,
    lastHeardAt: 1000,
    lagMs: 100,
    workerLagMs: null,
    workerContactAgeMs: 200,
    workerCutOff: false,
    rows: 2,
    seq: 2,
    counters: {
      changes: 2,
      resumes: 0,
      resubscribes: 0,
      failovers: 0,
      switches: 0,
      switchesDeferred: 0,
      missedChanges: 0,
      errors: 0,
      standbyFailovers: 0,
    },
    standby: null,
    lastError: null,
    ...over,
  }
}

describe('queryHealth (stale_after_ms 1000)', () => {
  const cases: Array<[string, Partial<LiveStatus>, StaleReason | null]> = [
    ['live, heard recently, worker in contact', {}, null],
    ['a worker that does not report its contact (Corrosion)', { workerContactAgeMs: null }, null],
    ['reconnecting', { state: 'reconnecting' }, 'not_connected'],
    ['syncing a new snapshot', { state: 'syncing' }, 'not_connected'],
    ['serving the state file, no worker yet', { state: 'connecting', synced: false }, 'not_connected'],
    ['failed', { state: 'failed' }, 'not_connected'],
    ['live but silent for longer than stale_after_ms', { lagMs: 1001 }, 'worker_silent'],
    ['never heard from', { lagMs: null }, 'worker_silent'],
    ['the worker is cut off (client view)', { workerCutOff: true }, 'worker_cut_off'],
    [
      'the worker heard from nobody for longer than stale_after_ms',
      { workerContactAgeMs: 1001 },
      'worker_cut_off',
    ],
    ['contact exactly at the limit is still fresh', { workerContactAgeMs: 1000, lagMs: 1000 }, null],
  ]
  for (const [name, over, reason] of cases)
    it(name, () => {
      const h = queryHealth(status(over), 1000)
      expect([h.stale, h.stale_reason]).toEqual([reason !== null, reason])
    })

  it('a query not started yet is stale and has no state', () => {
    expect(queryHealth(null, 1000)).toBe(NOT_STARTED)
  })
})

describe('edgeHealth', () => {
  const ok = queryHealth(status(), 1000)
  const stale = queryHealth(status({ workerCutOff: true }), 1000)
  const empty = queryHealth(status({ state: 'connecting', synced: false, hasState: false }), 1000)
  const cases: Array<[string, Record<string, typeof ok>, 'ok' | 'stale' | 'unsynced']> = [
    ['all fresh', { a: ok, b: ok }, 'ok'],
    ['one stale', { a: ok, b: stale }, 'stale'],
    ['one with nothing to serve', { a: stale, b: empty }, 'unsynced'],
  ]
  for (const [name, qs, want] of cases) it(name, () => expect(edgeHealth(qs).status).toBe(want))
})
