import { describe, expect, it } from 'vitest'
import {
  expectedConfirmations,
  remainingSuspicionMs,
  retransmitLimit,
  suspicionMinMs,
} from '../../src/membership/suspicion.js'

describe('suspicion math', () => {
  // memberlist suspicion_test.go TestSuspicion_remainingSuspicionTime, in ms
  it.each([
    [0, 3, 0, 2000, 30000, 30000],
    [1, 3, 2000, 2000, 30000, 14000],
    [2, 3, 3000, 2000, 30000, 4810],
    [3, 3, 4000, 2000, 30000, 0],
    [4, 3, 5000, 2000, 30000, 0],
    [5, 3, 10000, 2000, 30000, 0],
  ])('remaining(c=%i, k=%i, elapsed=%i, min=%i, max=%i) = %i', (c, k, elapsed, min, max, want) => {
    expect(remainingSuspicionMs(c, k, elapsed, min, max)).toBe(want)
  })

  it('never goes below the minimum timeout, and with k = 0 uses the minimum', () => {
    expect(remainingSuspicionMs(100, 3, 0, 2000, 30000)).toBe(2000)
    expect(remainingSuspicionMs(0, 0, 500, 2000, 30000)).toBe(1500)
  })

  it.each([
    [1, 4, 1000, 4000],
    [10, 4, 1000, 4000],
    [100, 4, 1000, 8000],
    [1000, 5, 200, 3000],
  ])('suspicionMinMs(n=%i, mult=%i, interval=%i) = %i', (n, mult, interval, want) => {
    expect(suspicionMinMs(n, mult, interval)).toBe(want)
  })

  it.each([
    [1, 4, 0],
    [3, 4, 1],
    [10, 4, 2],
    [10, 1, 0],
  ])('expectedConfirmations(n=%i, mult=%i) = %i', (n, mult, want) => {
    expect(expectedConfirmations(n, mult)).toBe(want)
  })

  it.each([
    [4, 0, 1],
    [4, 1, 2],
    [4, 9, 4],
    [4, 99, 8],
  ])('retransmitLimit(mult=%i, n=%i) = %i', (mult, n, want) => {
    expect(retransmitLimit(mult, n)).toBe(want)
  })
})
