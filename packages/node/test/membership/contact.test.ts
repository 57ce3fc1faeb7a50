import { describe, expect, it } from 'vitest'
import {
  initialContact,
  isolationLog,
  isolationStatus,
  withContact,
  withReachable,
} from '../../src/membership/contact.js'

const AFTER = 1000

describe('isolation (contact.ts)', () => {
  it('a node with bootstrap entries that never meets anyone is isolated after isolationAfterMs', () => {
    let s = initialContact(0, true)
    s = withReachable(s, 0, 500, false)
    expect(isolationStatus(s, 500, 0, AFTER)).toEqual({
      isolated: false,
      lastContactMs: null,
      reachableMembers: 0,
    })
    expect(isolationStatus(s, 1001, 0, AFTER).isolated).toBe(true)
  })

  it('a node configured alone (no bootstrap, nobody ever met) is a one-node cluster, not isolated', () => {
    const s = initialContact(0, false)
    expect(isolationStatus(s, 60_000, 0, AFTER).isolated).toBe(false)
  })

  it('…until it has met another member: then losing every member isolates it', () => {
    let s = initialContact(0, false)
    s = withReachable(s, 1, 100, true)
    s = withContact(s, 150)
    expect(isolationStatus(s, 200, 1, AFTER)).toEqual({
      isolated: false,
      lastContactMs: 50,
      reachableMembers: 1,
    })
    s = withReachable(s, 0, 300, true)
    expect(isolationStatus(s, 1300, 0, AFTER).isolated).toBe(false)
    expect(isolationStatus(s, 1301, 0, AFTER)).toEqual({
      isolated: true,
      lastContactMs: 1151,
      reachableMembers: 0,
    })
  })

  it('the isolation clock starts when the last member is lost and stops when one is back', () => {
    let s = initialContact(0, true)
    s = withReachable(s, 2, 10, false)
    expect(s.aloneSinceMs).toBeNull()
    s = withReachable(s, 0, 5000, false)
    expect(s.aloneSinceMs).toBe(5000)
    s = withReachable(s, 0, 7000, false)
    expect(s.aloneSinceMs).toBe(5000)
    expect(isolationStatus(s, 7000, 0, AFTER).isolated).toBe(true)
    s = withReachable(s, 1, 7100, false)
    expect(isolationStatus(s, 7100, 1, AFTER).isolated).toBe(false)
  })

  it.each([
    // wasIsolated, isolated, lastLogAt, now → line
    [false, true, null, 0, 'isolated'],
    [true, true, 0, 30_000, null],
    [true, true, 0, 60_000, 'still-isolated'],
    [true, false, 60_000, 61_000, 'rejoined'],
    [false, false, null, 100_000, null],
  ] as const)('log: was=%s now=%s last=%s at %i → %s', (was, is, last, now, want) => {
    expect(isolationLog(was, is, last, now, 60_000)).toBe(want)
  })
})
