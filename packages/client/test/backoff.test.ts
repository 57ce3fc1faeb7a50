import { describe, expect, it } from 'vitest'
import { BACKOFF_DEFAULTS, backoffDelayMs } from '../src/backoff.js'

describe('backoffDelayMs', () => {
  const opts = { baseMs: 100, maxMs: 5_000, factor: 2, jitter: 0.2 }
  it.each([
    // attempt, random, expected ms
    [0, 0.5, 100],
    [1, 0.5, 200],
    [2, 0.5, 400],
    [5, 0.5, 3_200],
    [6, 0.5, 5_000],
    [50, 0.5, 5_000],
    [0, 0, 80],
    [0, 1, 120],
    [3, 0, 640],
    [6, 1, 5_000], // jitter never exceeds maxMs
    [6, 0, 4_000],
    [-1, 0.5, 100],
  ])('attempt %i with random %f waits %i ms', (attempt, random, expected) => {
    expect(backoffDelayMs(attempt, opts, random)).toBe(expected)
  })

  it('has sane defaults', () => {
    expect(backoffDelayMs(0)).toBe(BACKOFF_DEFAULTS.baseMs)
    expect(backoffDelayMs(100)).toBe(BACKOFF_DEFAULTS.maxMs)
  })

  it('without jitter is exactly exponential', () => {
    expect(
      [0, 1, 2, 3].map((a) => backoffDelayMs(a, { baseMs: 10, maxMs: 1000, factor: 3, jitter: 0 }, 0.9)),
    ).toEqual([10, 30, 90, 270])
  })
})
