import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BookedVersions, RangeSet } from '../../src/index.js'

describe('RangeSet', () => {
  it('merges adjacent and overlapping ranges', () => {
    const s = new RangeSet()
    s.add(1, 3)
    s.add(5, 6)
    s.add(4, 4)
    expect(s.toArray()).toEqual([[1, 6]])
    s.add(10, 12)
    s.remove(2, 5)
    expect(s.toArray()).toEqual([
      [1, 1],
      [6, 6],
      [10, 12],
    ])
    expect(s.missing(0, 13)).toEqual([
      [0, 0],
      [2, 5],
      [7, 9],
      [13, 13],
    ])
    expect(s.intersect(6, 11)).toEqual([
      [6, 6],
      [10, 11],
    ])
    expect(s.covers(10, 12)).toBe(true)
    expect(s.covers(9, 10)).toBe(false)
    expect(s.count()).toBe(5)
  })

  it('behaves like a set of integers (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(40), fc.nat(6))), (ops) => {
        const s = new RangeSet()
        const ref = new Set<number>()
        for (const [add, a, len] of ops) {
          if (add) s.add(a, a + len)
          else s.remove(a, a + len)
          for (let x = a; x <= a + len; x++) {
            if (add) ref.add(x)
            else ref.delete(x)
          }
        }
        for (let x = 0; x < 50; x++) expect(s.has(x)).toBe(ref.has(x))
        expect(s.count()).toBe(ref.size)
        const arr = s.toArray()
        for (let i = 1; i < arr.length; i++) expect(arr[i]![0]).toBeGreaterThan(arr[i - 1]![1] + 1)
      }),
      { numRuns: 500 },
    )
  })
})

describe('BookedVersions', () => {
  it('tracks heads, gaps and partials', () => {
    const b = new BookedVersions()
    b.markComplete(3)
    expect(b.head).toBe(3)
    expect(b.gaps.toArray()).toEqual([[1, 2]])
    expect(b.contains(3)).toBe(true)
    expect(b.contains(2)).toBe(false)
    expect(b.markPartial(5, 0, 1, 3, 0)).toBe(false)
    expect(b.gaps.toArray()).toEqual([
      [1, 2],
      [4, 4],
    ])
    expect(b.partialNeeds()).toEqual({ 5: [[2, 3]] })
    expect(b.needIn(1, 7)).toEqual([
      [1, 2],
      [4, 7],
    ])
    expect(b.markPartial(5, 2, 3, 3, 0)).toBe(true)
    b.markComplete(5)
    b.markComplete(1, 2)
    b.markComplete(4)
    expect(b.gaps.isEmpty()).toBe(true)
    expect(b.partials.size).toBe(0)
    expect(b.contains(5)).toBe(true)
  })
  it('clones into an independent copy that later changes to either side do not reach', () => {
    const b = new BookedVersions()
    b.markComplete(2)
    b.markPartial(5, 0, 1, 3, 77)
    const c = b.clone()
    expect(c).toEqual(b)
    b.markPartial(5, 2, 3, 3, 77)
    b.markComplete(3, 5)
    c.markComplete(9)
    expect(b.head).toBe(5)
    expect(b.partials.size).toBe(0)
    expect(c.head).toBe(9)
    expect(c.gaps.toArray()).toEqual([
      [1, 1],
      [3, 4],
      [6, 8],
    ])
    expect(c.partials.get(5)?.seqs.toArray()).toEqual([[0, 1]])
  })
})
