import { describe, expect, it } from 'vitest'
import {
  contactAgeMs,
  coversHeads,
  isCutOff,
  parseWorkerFreshness,
  UNKNOWN_FRESHNESS,
  type WorkerFreshness,
} from '../src/freshness.js'

describe('parseWorkerFreshness', () => {
  it('reads the Patina fields', () => {
    expect(
      parseWorkerFreshness({
        gaps: 2,
        members: 3,
        p99_lag: 0.01,
        queue_size: 0,
        isolated: false,
        last_contact_ms: 120,
        reachable_members: 2,
        heads: { a1: { max: 9, complete: 7 } },
      }),
    ).toEqual({
      isolated: false,
      lastContactMs: 120,
      neverContacted: false,
      reachableMembers: 2,
      gaps: 2,
      heads: { a1: { max: 9, complete: 7 } },
    })
  })

  const cases: Array<[string, unknown, Partial<WorkerFreshness>]> = [
    [
      'Corrosion (no Patina fields): unknown',
      { gaps: 0, members: 1, p99_lag: 0, queue_size: 0 },
      { isolated: null, lastContactMs: null, heads: null, gaps: 0 },
    ],
    ['never contacted', { last_contact_ms: null }, { lastContactMs: null, neverContacted: true }],
    ['negative or non-numeric contact age is ignored', { last_contact_ms: -5 }, { lastContactMs: null }],
    ['isolated must be a boolean', { isolated: 'yes' }, { isolated: null }],
    [
      'a malformed head makes all heads unknown',
      { heads: { a: { max: 3, complete: 1 }, b: { max: 'x' } } },
      { heads: null },
    ],
    ['complete above max is malformed', { heads: { a: { max: 3, complete: 4 } } }, { heads: null }],
    ['heads as an array is malformed', { heads: [1, 2] }, { heads: null }],
    ['not an object', 'ok', UNKNOWN_FRESHNESS],
    ['null', null, UNKNOWN_FRESHNESS],
  ]
  for (const [name, input, want] of cases)
    it(name, () => expect(parseWorkerFreshness(input)).toMatchObject(want))
})

describe('contact age and cut-off', () => {
  const f = (over: Partial<WorkerFreshness>): WorkerFreshness => ({ ...UNKNOWN_FRESHNESS, ...over })
  const cases: Array<[string, WorkerFreshness, number | null, number, number | null, boolean]> = [
    // name, freshness, reportedAt, now, age, cut off (limit 1000)
    ['fresh at the probe', f({ lastContactMs: 100 }), 5000, 5000, 100, false],
    ['ages between probes', f({ lastContactMs: 100 }), 5000, 5950, 1050, true],
    ['reported old', f({ lastContactMs: 4000 }), 5000, 5000, 4000, true],
    [
      'says isolated (whatever its contact age)',
      f({ isolated: true, lastContactMs: 10 }),
      5000,
      5000,
      10,
      true,
    ],
    ['no contact field: never cut off by age', f({}), 5000, 99_000, null, false],
    [
      'never contacted and not isolated (a one-worker cluster)',
      f({ neverContacted: true }),
      5000,
      99_000,
      null,
      false,
    ],
    ['never probed', f({ lastContactMs: 100 }), null, 5000, null, false],
  ]
  for (const [name, fr, at, now, age, cut] of cases)
    it(name, () => {
      expect(contactAgeMs(fr, at, now)).toBe(age)
      expect(isCutOff(fr, at, now, 1000)).toBe(cut)
    })
})

describe('coversHeads (candidate.complete >= current.max for every actor)', () => {
  const h = (o: Record<string, [number, number]>) =>
    Object.fromEntries(Object.entries(o).map(([k, [max, complete]]) => [k, { max, complete }]))
  const cases: Array<[string, ReturnType<typeof h> | null, ReturnType<typeof h> | null, boolean | null]> = [
    ['equal', h({ a: [5, 5] }), h({ a: [5, 5] }), true],
    ['candidate ahead', h({ a: [9, 9], b: [1, 1] }), h({ a: [5, 5] }), true],
    ['candidate behind', h({ a: [4, 4] }), h({ a: [5, 5] }), false],
    ['candidate has the max but a gap below it', h({ a: [5, 3] }), h({ a: [5, 5] }), false],
    [
      'current has a gap: its max still counts (it may have sent 5)',
      h({ a: [4, 4] }),
      h({ a: [5, 2] }),
      false,
    ],
    ['candidate lacks an actor', h({}), h({ a: [1, 1] }), false],
    ['current has nothing', h({ a: [1, 1] }), h({}), true],
    ['candidate does not report heads', null, h({ a: [1, 1] }), null],
    ['current does not report heads', h({ a: [1, 1] }), null, null],
  ]
  for (const [name, cand, cur, want] of cases) it(name, () => expect(coversHeads(cand, cur)).toBe(want))
})
