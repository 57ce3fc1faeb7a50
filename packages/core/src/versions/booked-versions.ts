import type { Range } from '../types.js'
import { RangeSet } from './range-set.js'

export interface PartialVersion {
  /** Seq ranges received so far. */
  seqs: RangeSet
  lastSeq: number
  ts: number
}

/**
 * What one node knows of one actor's versions (Corrosion's `BookedVersions`):
 * every version ≤ `head` is known unless it is in `gaps` (never received) or in
 * `partials` (some seq chunks missing). Pure data; persistence is the store's job.
 */
export class BookedVersions {
  head = 0
  readonly gaps = new RangeSet()
  readonly partials = new Map<number, PartialVersion>()

  /** An independent copy: what a rolled-back transaction restores. */
  clone(): BookedVersions {
    const c = new BookedVersions()
    c.head = this.head
    for (const [a, b] of this.gaps.toArray()) c.gaps.add(a, b)
    for (const [v, p] of this.partials) {
      c.partials.set(v, { seqs: RangeSet.from(p.seqs.toArray()), lastSeq: p.lastSeq, ts: p.ts })
    }
    return c
  }

  contains(version: number): boolean {
    return version >= 1 && version <= this.head && !this.gaps.has(version) && !this.partials.has(version)
  }

  /** Whether the chunk [seqStart, seqEnd] of `version` is already known. */
  containsSeqs(version: number, seqStart: number, seqEnd: number): boolean {
    if (this.contains(version)) return true
    const p = this.partials.get(version)
    return p !== undefined && p.seqs.covers(seqStart, seqEnd)
  }

  private raiseHead(version: number): void {
    if (version > this.head) {
      if (version > this.head + 1) this.gaps.add(this.head + 1, version - 1)
      this.head = version
    } else {
      this.gaps.remove(version, version)
    }
  }

  /** Mark versions [a, b] fully known (applied or cleared). */
  markComplete(a: number, b = a): void {
    if (b > this.head) {
      if (a > this.head + 1) this.gaps.add(this.head + 1, a - 1)
      this.head = b
    }
    this.gaps.remove(a, b)
    for (const v of this.partials.keys()) if (v >= a && v <= b) this.partials.delete(v)
  }

  /**
   * Record a received chunk of `version`. Returns true when the version now has every
   * seq in `0..lastSeq` (the caller then applies the buffered chunks and calls `markComplete`).
   */
  markPartial(version: number, seqStart: number, seqEnd: number, lastSeq: number, ts: number): boolean {
    this.raiseHead(version)
    let p = this.partials.get(version)
    if (p === undefined) {
      p = { seqs: new RangeSet(), lastSeq, ts }
      this.partials.set(version, p)
    }
    p.seqs.add(seqStart, seqEnd)
    return p.seqs.covers(0, p.lastSeq)
  }

  /**
   * Record that `version` was refused (see `refused.ts`): it is known to exist, so the head
   * moves up to it, and it stays missing (a gap, no longer a partial).
   */
  markRefused(version: number): void {
    if (version > this.head) {
      this.gaps.add(this.head + 1, version)
      this.head = version
    } else this.gaps.add(version, version)
    this.partials.delete(version)
  }

  /**
   * Whether every version from 1 to `version` is applied or cleared: no gap and no partial at or
   * below it (what read-your-writes waits for).
   */
  containsThrough(version: number): boolean {
    if (version > this.head) return false
    if (this.gaps.intersect(1, version).length > 0) return false
    for (const v of this.partials.keys()) if (v <= version) return false
    return true
  }

  /** Versions in [a, b] this node does not fully have. */
  needIn(a: number, b: number): Range[] {
    const out = RangeSet.from(this.gaps.intersect(a, b))
    for (const v of this.partials.keys()) if (v >= a && v <= b) out.add(v, v)
    if (b > this.head) out.add(Math.max(a, this.head + 1), b)
    return out.toArray()
  }

  /** Missing seq ranges of each partial version. */
  partialNeeds(): Record<number, Range[]> {
    const out: Record<number, Range[]> = {}
    for (const [v, p] of this.partials) out[v] = p.seqs.missing(0, p.lastSeq)
    return out
  }
}
