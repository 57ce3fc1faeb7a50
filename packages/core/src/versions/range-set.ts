import type { Range } from '../types.js'

/**
 * A set of integers stored as sorted, disjoint, non-adjacent inclusive ranges
 * (Corrosion's `RangeInclusiveSet`). Adjacent ranges are merged on insert, so the
 * representation of a given set is unique.
 */
export class RangeSet {
  private ranges: Range[] = []

  static from(ranges: Iterable<Range>): RangeSet {
    const s = new RangeSet()
    for (const [a, b] of ranges) s.add(a, b)
    return s
  }

  get size(): number {
    return this.ranges.length
  }

  /** Number of integers in the set. */
  count(): number {
    let n = 0
    for (const [a, b] of this.ranges) n += b - a + 1
    return n
  }

  toArray(): Range[] {
    return this.ranges.map(([a, b]) => [a, b])
  }

  isEmpty(): boolean {
    return this.ranges.length === 0
  }

  /** Index of the first range whose end >= x - 1 (binary search). */
  private lowerBound(x: number): number {
    let lo = 0
    let hi = this.ranges.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((this.ranges[mid] as Range)[1] < x - 1) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  has(x: number): boolean {
    const i = this.lowerBound(x + 1)
    const r = this.ranges[i]
    return r !== undefined && r[0] <= x && x <= r[1]
  }

  /** Whether every integer of [a, b] is in the set. */
  covers(a: number, b: number): boolean {
    const i = this.lowerBound(a + 1)
    const r = this.ranges[i]
    return r !== undefined && r[0] <= a && b <= r[1]
  }

  add(a: number, b: number): void {
    if (b < a) return
    let i = this.lowerBound(a)
    let start = a
    let end = b
    let j = i
    while (j < this.ranges.length && (this.ranges[j] as Range)[0] <= end + 1) {
      const r = this.ranges[j] as Range
      start = Math.min(start, r[0])
      end = Math.max(end, r[1])
      j++
    }
    this.ranges.splice(i, j - i, [start, end])
    i++
  }

  remove(a: number, b: number): void {
    if (b < a) return
    const out: Range[] = []
    for (const r of this.ranges) {
      if (r[1] < a || r[0] > b) {
        out.push(r)
        continue
      }
      if (r[0] < a) out.push([r[0], a - 1])
      if (r[1] > b) out.push([b + 1, r[1]])
    }
    this.ranges = out
  }

  /** The parts of [a, b] not in the set. */
  missing(a: number, b: number): Range[] {
    const out: Range[] = []
    let cur = a
    for (const [x, y] of this.ranges) {
      if (y < cur) continue
      if (x > b) break
      if (x > cur) out.push([cur, Math.min(x - 1, b)])
      cur = Math.max(cur, y + 1)
      if (cur > b) break
    }
    if (cur <= b) out.push([cur, b])
    return out
  }

  /** The parts of [a, b] in the set. */
  intersect(a: number, b: number): Range[] {
    const out: Range[] = []
    for (const [x, y] of this.ranges) {
      if (y < a) continue
      if (x > b) break
      out.push([Math.max(x, a), Math.min(y, b)])
    }
    return out
  }
}
