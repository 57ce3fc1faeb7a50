import { describe, expect, it } from 'vitest'
import { flushDelayMs, packGroups } from '../../src/broadcast/batch.js'

describe('broadcast batching', () => {
  const policy = { maxBatchBytes: 1000, maxBatchDelayMs: 10 }
  it.each([
    [{ pendingBytes: 0, pendingCount: 0, lastFlushAtMs: 0 }, 100, null],
    [{ pendingBytes: 10, pendingCount: 1, lastFlushAtMs: -Infinity }, 100, 0], // quiet node: at once
    [{ pendingBytes: 10, pendingCount: 1, lastFlushAtMs: 95 }, 100, 5], // busy: wait for the window
    [{ pendingBytes: 10, pendingCount: 1, lastFlushAtMs: 90 }, 100, 0],
    [{ pendingBytes: 1000, pendingCount: 3, lastFlushAtMs: 99 }, 100, 0], // full batch: at once
  ])('flushDelayMs(%o, now=%i) = %s', (s, now, want) => {
    expect(flushDelayMs(s, now, policy)).toBe(want)
  })

  it('packs items into groups bounded by bytes and count; a huge item travels alone', () => {
    expect(packGroups([400, 400, 400, 100], 1000, 10)).toEqual([
      [0, 1],
      [2, 3],
    ])
    expect(packGroups([1, 1, 1, 1, 1], 1000, 2)).toEqual([[0, 1], [2, 3], [4]])
    expect(packGroups([10, 5000, 10], 1000, 10)).toEqual([[0], [1], [2]])
    expect(packGroups([], 1000, 10)).toEqual([])
  })
})
