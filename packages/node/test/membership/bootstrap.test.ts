import { describe, expect, it } from 'vitest'
import {
  afterContact,
  bootstrapEntries,
  dueEntries,
  nextContactAtMs,
  type BootstrapEntry,
} from '../../src/membership/bootstrap.js'

const T = { retryMinMs: 100, retryMaxMs: 2000, announceIntervalMs: 5000 }
const live =
  (...peers: string[]) =>
  (p: string) =>
    peers.includes(p)
const entry = (e: Partial<BootstrapEntry>): BootstrapEntry => ({
  addr: 'a:1',
  failures: 0,
  lastAttemptAtMs: 1000,
  peer: null,
  self: false,
  jitter: 0.5,
  ...e,
})

describe('bootstrap schedule', () => {
  it('every entry is due at once at start, duplicates removed', () => {
    const es = bootstrapEntries(['a:1', 'b:2', 'a:1'])
    expect(es.map((e) => e.addr)).toEqual(['a:1', 'b:2'])
    expect(dueEntries(es, 0, T, live(), false)).toHaveLength(2)
  })

  it.each([
    // failures, peer, live?, connected, → next contact at (last attempt 1000, jitter 0.5 = none)
    [1, null, false, false, 1000 + 100], // first retry after retryMinMs
    [2, null, false, true, 1000 + 200],
    [3, null, false, true, 1000 + 400],
    [6, null, false, true, 1000 + 2000], // capped: retried every retryMaxMs, forever
    [60, null, false, true, 1000 + 2000],
    [0, 'p', true, true, 1000 + 5000], // a live member: the slow announce pace
    [0, 'p', false, true, 1000 + 100], // it was reached, but is not a live member now: fast again
    [0, 'p', true, false, 1000 + 100], // we hold no connection at all: nothing waits for the slow pace
  ])('failures=%i peer=%s live=%s connected=%s → %i', (failures, peer, isLive, connected, want) => {
    const e = entry({ failures, peer })
    expect(nextContactAtMs(e, T, live(...(isLive && peer !== null ? [peer] : [])), connected)).toBe(want)
  })

  it('jitter spreads retries by ±20 % and announces by ±10 %', () => {
    expect(nextContactAtMs(entry({ failures: 3, jitter: 0 }), T, live(), true)).toBe(1000 + 320)
    expect(nextContactAtMs(entry({ failures: 3, jitter: 0.999 }), T, live(), true)).toBe(1000 + 480)
    expect(nextContactAtMs(entry({ peer: 'p', jitter: 0 }), T, live('p'), true)).toBeCloseTo(1000 + 4500)
    expect(nextContactAtMs(entry({ peer: 'p', jitter: 1 }), T, live('p'), true)).toBeCloseTo(1000 + 5500)
  })

  it('an entry that leads to this node is contacted at the slow pace (its address may change)', () => {
    const e = afterContact(entry({ failures: 4 }), { kind: 'self' }, 2000, 0.5)
    expect(e).toMatchObject({ failures: 0, self: true, lastAttemptAtMs: 2000 })
    expect(nextContactAtMs(e, T, live(), true)).toBe(2000 + 5000)
  })

  it('after a contact: success resets failures and learns the peer, failure counts', () => {
    const ok = afterContact(entry({ failures: 3 }), { kind: 'ok', peer: 'p' }, 3000, 0.25)
    expect(ok).toMatchObject({ failures: 0, peer: 'p', lastAttemptAtMs: 3000, jitter: 0.25, self: false })
    const failed = afterContact(ok, { kind: 'failed' }, 4000, 0.5)
    expect(failed).toMatchObject({ failures: 1, peer: 'p', lastAttemptAtMs: 4000 })
    expect(nextContactAtMs(failed, T, live('p'), true)).toBe(4000 + 100)
  })

  it('never gives up: after any number of failures the entry is due again within retryMaxMs (+20 %)', () => {
    let e = bootstrapEntries(['x:1'])[0] as BootstrapEntry
    let now = 0
    for (let i = 0; i < 200; i++) {
      const at = nextContactAtMs(e, T, live(), false)
      expect(at - now).toBeLessThanOrEqual(T.retryMaxMs * 1.2)
      now = Math.max(now, at)
      e = afterContact(e, { kind: 'failed' }, now, (i * 0.37) % 1)
    }
    expect(e.failures).toBe(200)
  })
})
