import { describe, expect, it } from 'vitest'
import {
  AWARENESS_MAX_MULTIPLIER,
  applyAwarenessDelta,
  firedLate,
  probeAwarenessDelta,
  scaleByAwareness,
} from '../../src/membership/awareness.js'

describe('local health awareness', () => {
  // memberlist awareness_test.go TestAwareness, with max 8
  it.each([
    [0, 0, 0, 1000],
    [0, -1, 0, 1000],
    [0, -10, 0, 1000],
    [0, 1, 1, 2000],
    [1, -1, 0, 1000],
    [0, 10, 7, 8000],
    [7, 1, 7, 8000],
    [7, -1, 6, 7000],
  ])('score %i + delta %i = %i; 1 s scales to %i ms', (score, delta, want, scaled) => {
    const s = applyAwarenessDelta(score, delta, AWARENESS_MAX_MULTIPLIER)
    expect(s).toBe(want)
    expect(scaleByAwareness(1000, s)).toBe(scaled)
  })

  it.each([
    // direct, helpers, answers, stalled → delta
    [true, 0, 0, false, -1],
    [false, 0, 0, false, 1],
    [false, 3, 3, false, 0], // every helper nacked: the target is the problem, not us
    [false, 3, 1, false, 2], // two helpers silent: suspect ourselves
    [false, 3, 0, false, 3],
    [false, 3, 3, true, 1], // our own timers fired late: count against us, whatever else happened
    [true, 0, 0, true, 1],
  ])(
    'probe direct=%s helpers=%i answered=%i stalled=%s → %i',
    (direct, helpers, helperAnswers, stalled, want) => {
      expect(probeAwarenessDelta({ direct, helpers, helperAnswers, stalled })).toBe(want)
    },
  )

  it.each([
    [100, 100, false],
    [130, 100, false], // a little late: scheduling noise
    [150, 100, true], // half the wait late
    [520, 500, false],
    [760, 500, true],
    [3100, 100, true], // a 3 s blocked event loop
    [40, 10, false], // short waits: 30 ms late is scheduling noise (at least 50 ms needed)
    [70, 10, true],
  ])('a %i ms wait for %i ms fired late: %s', (elapsed, expected, want) => {
    expect(firedLate(elapsed, expected)).toBe(want)
  })
})
