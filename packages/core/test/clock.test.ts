import { describe, expect, it } from 'vitest'
import { createHlc, TICKS_PER_MS, type Clock } from '../src/index.js'

/** A wall clock the test sets by hand. */
function manual(ms: number): Clock & { set(ms: number): void } {
  let now = ms
  return { now: () => now, set: (m) => (now = m) }
}

describe('hybrid logical clock', () => {
  it('issues ms * 1000 while the wall clock moves, and counts within one millisecond', () => {
    const wall = manual(5)
    const hlc = createHlc(wall)
    expect(hlc.next()).toBe(5 * TICKS_PER_MS)
    expect(hlc.next()).toBe(5 * TICKS_PER_MS + 1)
    expect(hlc.next()).toBe(5 * TICKS_PER_MS + 2)
    wall.set(6.9)
    expect(hlc.next()).toBe(6 * TICKS_PER_MS)
    expect(hlc.last()).toBe(6 * TICKS_PER_MS)
  })

  it('never goes backwards when the wall clock does', () => {
    const wall = manual(100)
    const hlc = createHlc(wall)
    const a = hlc.next()
    wall.set(40)
    const b = hlc.next()
    const c = hlc.next()
    expect([b - a, c - b]).toEqual([1, 1])
  })

  it.each([
    ['a remote timestamp ahead within the drift bound is taken', 1_000 + 59_999, 1_000 + 59_999],
    ['a remote timestamp exactly at the bound is taken', 1_000 + 60_000, 1_000 + 60_000],
    ['a remote timestamp beyond the drift bound is ignored', 1_000 + 60_001, 1_000],
    ['a remote timestamp behind ours changes nothing', 500, 1_000],
  ])('%s', (_, remoteMs, lastMs) => {
    const hlc = createHlc(manual(1_000))
    hlc.next()
    hlc.observe(remoteMs * TICKS_PER_MS)
    expect(hlc.last()).toBe(lastMs * TICKS_PER_MS)
    // The next local timestamp is after everything observed.
    expect(hlc.next()).toBe(lastMs * TICKS_PER_MS + 1)
  })

  it('bounds the drift by the configured maximum', () => {
    const hlc = createHlc(manual(0), 10)
    hlc.observe(11 * TICKS_PER_MS)
    expect(hlc.last()).toBe(0)
    hlc.observe(10 * TICKS_PER_MS)
    expect(hlc.last()).toBe(10 * TICKS_PER_MS)
  })
})
