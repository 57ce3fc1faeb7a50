import { describe, expect, it } from 'vitest'
import {
  applyUpdate,
  newMember,
  transitionLogLevel,
  type Member,
  type MemberRecord,
} from '../../src/membership/members.js'

const rec = (actorId: string, incarnation: number, extra: Partial<MemberRecord> = {}): MemberRecord => ({
  actorId,
  peerId: `p-${actorId}`,
  addrs: [],
  apiAddr: null,
  region: '',
  role: 'worker',
  incarnation,
  dbVersion: 0,
  boot: 1,
  ...extra,
})

function tableWith(...members: Member[]): Map<string, Member> {
  return new Map(members.map((m) => [m.record.actorId, m]))
}

describe('member state transitions', () => {
  it('adds an unknown alive member', () => {
    const t = tableWith(newMember(rec('me', 1), 'alive', 0))
    const out = applyUpdate(t, 'me', { t: 'alive', m: rec('a', 1) }, 10)
    expect(out.transition).toEqual({ actorId: 'a', from: 'unknown', to: 'alive' })
    expect(t.get('a')?.state).toBe('alive')
  })

  it('suspects an alive member of the same or newer incarnation, and counts confirmations once per member', () => {
    const t = tableWith(newMember(rec('me', 1), 'alive', 0), newMember(rec('a', 5), 'alive', 0))
    expect(applyUpdate(t, 'me', { t: 'suspect', actorId: 'a', incarnation: 4, from: 'b' }, 1).changed).toBe(
      false,
    )
    expect(
      applyUpdate(t, 'me', { t: 'suspect', actorId: 'a', incarnation: 5, from: 'b' }, 1).transition?.to,
    ).toBe('suspect')
    expect(applyUpdate(t, 'me', { t: 'suspect', actorId: 'a', incarnation: 5, from: 'c' }, 2).changed).toBe(
      true,
    )
    expect(applyUpdate(t, 'me', { t: 'suspect', actorId: 'a', incarnation: 5, from: 'c' }, 3).changed).toBe(
      false,
    )
    expect(t.get('a')?.suspectedBy.size).toBe(2)
  })

  it('an alive of the same incarnation does not clear a suspicion, a newer one does', () => {
    const t = tableWith(newMember(rec('me', 1), 'alive', 0), newMember(rec('a', 5), 'suspect', 0))
    const same = applyUpdate(t, 'me', { t: 'alive', m: rec('a', 5) }, 1)
    expect(same.transition).toBeNull()
    expect(same.remind).toBe(true)
    expect(applyUpdate(t, 'me', { t: 'alive', m: rec('a', 6) }, 2).transition).toEqual({
      actorId: 'a',
      from: 'suspect',
      to: 'alive',
    })
  })

  it('down overrides suspect and alive of an older or equal incarnation, not a newer one', () => {
    const t = tableWith(newMember(rec('me', 1), 'alive', 0), newMember(rec('a', 5), 'alive', 0))
    expect(applyUpdate(t, 'me', { t: 'down', actorId: 'a', incarnation: 4, from: 'b' }, 1).changed).toBe(
      false,
    )
    expect(
      applyUpdate(t, 'me', { t: 'down', actorId: 'a', incarnation: 5, from: 'b' }, 1).transition?.to,
    ).toBe('down')
    expect(applyUpdate(t, 'me', { t: 'down', actorId: 'a', incarnation: 5, from: 'c' }, 1).changed).toBe(
      false,
    )
    expect(applyUpdate(t, 'me', { t: 'alive', m: rec('a', 6) }, 2).transition?.to).toBe('alive')
  })

  it('asks to refute suspicion or death of ourselves', () => {
    const t = tableWith(newMember(rec('me', 7), 'alive', 0))
    expect(
      applyUpdate(t, 'me', { t: 'suspect', actorId: 'me', incarnation: 7, from: 'b' }, 1).refuteWith,
    ).toBe(8)
    expect(applyUpdate(t, 'me', { t: 'down', actorId: 'me', incarnation: 9, from: 'b' }, 1).refuteWith).toBe(
      10,
    )
    expect(
      applyUpdate(t, 'me', { t: 'suspect', actorId: 'me', incarnation: 6, from: 'b' }, 1).refuteWith,
    ).toBeNull()
    expect(t.get('me')?.state).toBe('alive')
  })

  it('a member remembered from disk is overridden by an alive of the same incarnation', () => {
    const t = tableWith(newMember(rec('me', 1), 'alive', 0), newMember(rec('a', 5), 'down', 0, true))
    expect(applyUpdate(t, 'me', { t: 'suspect', actorId: 'a', incarnation: 5, from: 'b' }, 1).changed).toBe(
      false,
    )
    expect(applyUpdate(t, 'me', { t: 'alive', m: rec('a', 5) }, 1).transition?.to).toBe('alive')
    expect(t.get('a')?.stale).toBe(false)
  })

  it('refreshes the record of an alive member without reporting a change for dbVersion alone', () => {
    const t = tableWith(newMember(rec('me', 1), 'alive', 0), newMember(rec('a', 5), 'alive', 0))
    expect(applyUpdate(t, 'me', { t: 'alive', m: rec('a', 5, { dbVersion: 9 }) }, 1).changed).toBe(false)
    expect(t.get('a')?.record.dbVersion).toBe(9)
    expect(applyUpdate(t, 'me', { t: 'alive', m: rec('a', 5, { apiAddr: 'x:1' }) }, 1).changed).toBe(true)
  })
})

describe('transitionLogLevel', () => {
  it.each([
    ['alive', 'info'],
    ['suspect', 'info'],
    ['left', 'info'],
    ['down', 'warn'],
  ] as const)('a member that becomes %s is logged at %s', (to, level) => {
    expect(transitionLogLevel(to)).toBe(level)
  })
})
