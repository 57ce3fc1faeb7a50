/**
 * Validation of membership bodies (kind `Membership`): `{ u: MembershipUpdate[] }`.
 * Every field is checked for type and bound before use.
 */
import type { MemberRole } from '@patina/api'
import { MessageRejectedError, expectRecord } from '../wire/envelope.js'
import type { MemberRecord, MembershipUpdate } from './members.js'

export const MEMBERSHIP_LIMITS = {
  /** Most updates in one membership message. */
  maxUpdates: 1024,
  /** Most addresses in one member record. */
  maxAddrs: 16,
  /** Longest id/address/region string. */
  maxStringLength: 512,
} as const

const bad = (why: string): MessageRejectedError =>
  new MessageRejectedError('malformed', `membership message: ${why}`)

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MEMBERSHIP_LIMITS.maxStringLength) {
    throw bad(`${what} is not a string of 1..${MEMBERSHIP_LIMITS.maxStringLength} characters`)
  }
  return v
}
function nat(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw bad(`${what} is not a non-negative integer`)
  return v
}

export function validateRecord(raw: unknown): MemberRecord {
  const r = expectRecord(raw, 'member record')
  const addrs = r['addrs']
  if (!Array.isArray(addrs) || addrs.length > MEMBERSHIP_LIMITS.maxAddrs) {
    throw bad(`addrs is not an array of at most ${MEMBERSHIP_LIMITS.maxAddrs}`)
  }
  const role = r['role']
  if (role !== 'worker' && role !== 'edge') throw bad(`role ${JSON.stringify(role)} is not worker or edge`)
  const apiAddr = r['apiAddr']
  return {
    actorId: str(r['actorId'], 'actorId'),
    peerId: str(r['peerId'], 'peerId'),
    addrs: addrs.map((a, i) => str(a, `addrs[${i}]`)),
    apiAddr: apiAddr === null || apiAddr === undefined ? null : str(apiAddr, 'apiAddr'),
    region: typeof r['region'] === 'string' && r['region'].length <= 128 ? r['region'] : '',
    role: role as MemberRole,
    incarnation: nat(r['incarnation'], 'incarnation'),
    dbVersion: nat(r['dbVersion'] ?? 0, 'dbVersion'),
    boot: nat(r['boot'] ?? 0, 'boot'),
  }
}

export function validateUpdate(raw: unknown): MembershipUpdate {
  const u = expectRecord(raw, 'membership update')
  switch (u['t']) {
    case 'alive':
      return { t: 'alive', m: validateRecord(u['m']) }
    case 'suspect':
    case 'down':
      return {
        t: u['t'],
        actorId: str(u['actorId'], 'actorId'),
        incarnation: nat(u['incarnation'], 'incarnation'),
        from: str(u['from'], 'from'),
      }
    case 'left':
      return {
        t: 'left',
        actorId: str(u['actorId'], 'actorId'),
        incarnation: nat(u['incarnation'], 'incarnation'),
      }
    default:
      throw bad(`update type ${JSON.stringify(u['t'])} is unknown`)
  }
}

export function validateMembershipBody(body: unknown): MembershipUpdate[] {
  const b = expectRecord(body, 'membership')
  const list = b['u']
  if (!Array.isArray(list)) throw bad('u is not an array')
  if (list.length > MEMBERSHIP_LIMITS.maxUpdates) {
    throw new MessageRejectedError(
      'oversized',
      `membership message carries ${list.length} updates, above ${MEMBERSHIP_LIMITS.maxUpdates}`,
    )
  }
  return list.map(validateUpdate)
}

export function membershipBody(updates: MembershipUpdate[]): { u: MembershipUpdate[] } {
  return { u: updates }
}
