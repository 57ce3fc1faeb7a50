import { describe, expect, it } from 'vitest'
import type { MembershipUpdate } from '../../src/membership/members.js'
import { createPiggybackQueue, subjectOf } from '../../src/membership/piggyback.js'
import { retransmitLimit } from '../../src/membership/suspicion.js'

const suspect = (actorId: string, incarnation = 1): MembershipUpdate => ({
  t: 'suspect',
  actorId,
  incarnation,
  from: 'me',
})
const subjects = (us: MembershipUpdate[]): string[] => us.map(subjectOf)

describe('piggyback queue (memberlist TransmitLimitedQueue)', () => {
  it('sends each update retransmitLimit(mult, n) times, then drops it', () => {
    const q = createPiggybackQueue(4)
    q.enqueue(suspect('a'))
    const limit = retransmitLimit(4, 9) // 4 × log10(10) = 4
    expect(limit).toBe(4)
    for (let i = 0; i < limit; i++) expect(subjects(q.take(10, 9))).toEqual(['a'])
    expect(q.take(10, 9)).toEqual([])
    expect(q.size()).toBe(0)
  })

  it('takes the least-sent first, newest first among equals, at most max', () => {
    const q = createPiggybackQueue(4)
    q.enqueue(suspect('a'))
    q.enqueue(suspect('b'))
    expect(subjects(q.take(1, 9))).toEqual(['b'])
    q.enqueue(suspect('c'))
    // a: 0 sent (older), c: 0 sent (newer), b: 1 sent
    expect(subjects(q.take(3, 9))).toEqual(['c', 'a', 'b'])
    expect(subjects(q.take(2, 9))).toEqual(['c', 'a'])
  })

  it('a newer update about the same member replaces the queued one and starts its count again', () => {
    const q = createPiggybackQueue(1)
    q.enqueue(suspect('a', 1))
    q.take(1, 1)
    q.enqueue({ t: 'down', actorId: 'a', incarnation: 2, from: 'me' })
    expect(q.size()).toBe(1)
    const [u] = q.take(5, 1)
    expect(u).toMatchObject({ t: 'down', incarnation: 2 })
  })

  it('the limit follows the cluster size at the time of sending', () => {
    const q = createPiggybackQueue(4)
    q.enqueue(suspect('a'))
    q.take(1, 1) // limit 2 for n = 1
    q.take(1, 1)
    expect(q.size()).toBe(0)
    q.enqueue(suspect('b'))
    for (let i = 0; i < 8; i++) expect(q.take(1, 99)).toHaveLength(1) // limit 8 for n = 99
    expect(q.size()).toBe(0)
  })

  it('keeps at most maxItems, dropping the oldest', () => {
    const q = createPiggybackQueue(4, 3)
    for (const id of ['a', 'b', 'c', 'd', 'e']) q.enqueue(suspect(id))
    expect(q.size()).toBe(3)
    expect(subjects(q.take(10, 9)).sort()).toEqual(['c', 'd', 'e'])
  })

  it('nothing to take with max 0 or an empty queue', () => {
    const q = createPiggybackQueue(4)
    expect(q.take(5, 3)).toEqual([])
    q.enqueue(suspect('a'))
    expect(q.take(0, 3)).toEqual([])
    expect(q.size()).toBe(1)
  })
})
