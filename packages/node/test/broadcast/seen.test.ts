import { describe, expect, it } from 'vitest'
import { changesetKey, createSeenCache } from '../../src/broadcast/seen.js'

describe('seen cache', () => {
  it('keys changesets by actor, version and seq range', () => {
    const base = {
      kind: 'full' as const,
      actorId: 'a',
      version: 3,
      ts: 1,
      seqStart: 0,
      seqEnd: 9,
      lastSeq: 20,
      changes: [],
    }
    expect(changesetKey(base)).toBe('a|3|0-9')
    expect(changesetKey({ ...base, seqStart: 10, seqEnd: 20 })).not.toBe(changesetKey(base))
    expect(changesetKey({ kind: 'empty', actorId: 'a', versions: [3, 3] })).toBe('a|e|3-3')
  })

  it('detects duplicates and evicts the oldest entries beyond its bound', () => {
    const seen = createSeenCache(3)
    expect(seen.add('x')).toBe(true)
    expect(seen.add('x')).toBe(false)
    seen.add('y')
    seen.add('z')
    seen.add('w')
    expect(seen.size).toBe(3)
    expect(seen.has('x')).toBe(false)
    seen.delete('w')
    expect(seen.add('w')).toBe(true)
  })
})
