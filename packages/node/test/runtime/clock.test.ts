import { describe, expect, it } from 'vitest'
import { seededRandom, shuffled } from '../../src/runtime/clock.js'

describe('seeded random', () => {
  it('is reproducible from its seed', () => {
    const a = seededRandom(42)
    const b = seededRandom(42)
    const xs = Array.from({ length: 5 }, () => a())
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs)
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true)
    expect(shuffled([1, 2, 3, 4, 5], seededRandom(7))).toEqual(shuffled([1, 2, 3, 4, 5], seededRandom(7)))
  })
})
