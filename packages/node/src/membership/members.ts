/**
 * The member table and its SWIM state transitions, as pure data + functions
 * (no timers, no I/O). `membership.ts` wraps the probes, gossip and persistence around it.
 *
 * Precedence (SWIM with incarnation numbers):
 * - `alive(i)` replaces any state of an incarnation `< i`; with the same incarnation it
 *   only refreshes the record of a member already alive.
 * - `suspect(i)` applies to an alive member of incarnation `<= i`; repeated suspicions of
 *   the same incarnation by other members count as confirmations.
 * - `down(i)` / `left(i)` apply to a member of incarnation `<= i` not already down/left.
 * - About ourselves, `suspect`/`down` with incarnation `>=` ours is refuted: we take
 *   incarnation `i + 1` and announce ourselves alive.
 * - Members loaded from disk are "stale": any `alive` with incarnation `>=` the stored
 *   one overrides them.
 */
import type { MemberRole, MemberState } from '@patina/api'

export interface MemberRecord {
  actorId: string
  peerId: string
  /** Addresses other members can dial (multiaddrs with peer id, or transport names). */
  addrs: string[]
  apiAddr: string | null
  region: string
  role: MemberRole
  incarnation: number
  /** The member's local db_version when it announced (a sync-planning hint). */
  dbVersion: number
  /**
   * Random per process start (0 = unknown, from an older node): a member that comes back
   * alive with the same `boot` was never down, so its suspicion or down was a false positive.
   */
  boot: number
}

export interface Member {
  record: MemberRecord
  state: MemberState
  /** When the state last changed (ms, local clock). */
  stateSinceMs: number
  /** Members that suspect this one (for the current incarnation). */
  suspectedBy: Set<string>
  /** Last probe round-trip time, ms. */
  rttMs: number | null
  /** Loaded from disk and not heard from since. */
  stale: boolean
}

export type MembershipUpdate =
  | { t: 'alive'; m: MemberRecord }
  | { t: 'suspect'; actorId: string; incarnation: number; from: string }
  | { t: 'down'; actorId: string; incarnation: number; from: string }
  | { t: 'left'; actorId: string; incarnation: number }

export interface Transition {
  actorId: string
  from: MemberState | 'unknown'
  to: MemberState
}

export interface ApplyOutcome {
  /** The table changed in a way worth gossiping on. */
  changed: boolean
  transition: Transition | null
  /** The update was about us and must be refuted with this new incarnation. */
  refuteWith: number | null
  /**
   * The update carried stale information about a member we hold a newer notice for
   * (e.g. an alive announce from a member we consider down): re-gossip our notice so it
   * can refute.
   */
  remind: boolean
}

/**
 * The log level of a transition: only `down` is a warning. `suspect` is SWIM's ordinary doubt,
 * which a busy machine raises and the member refutes within a probe period (a newcomer's first
 * `patina dev` on a loaded laptop printed a hundred of them as WARN); `left` is a clean leave.
 */
export function transitionLogLevel(to: MemberState): 'info' | 'warn' {
  return to === 'down' ? 'warn' : 'info'
}

const NOOP: ApplyOutcome = { changed: false, transition: null, refuteWith: null, remind: false }

export function newMember(record: MemberRecord, state: MemberState, nowMs: number, stale = false): Member {
  return { record, state, stateSinceMs: nowMs, suspectedBy: new Set(), rttMs: null, stale }
}

/**
 * Applies one update to `table` (mutated in place). `self` is our own member entry (also
 * in `table`); its incarnation is never changed here — the caller refutes.
 */
export function applyUpdate(
  table: Map<string, Member>,
  selfActorId: string,
  update: MembershipUpdate,
  nowMs: number,
): ApplyOutcome {
  const actorId = update.t === 'alive' ? update.m.actorId : update.actorId
  const cur = table.get(actorId)

  if (actorId === selfActorId) {
    if (cur === undefined) return NOOP
    const inc = update.t === 'alive' ? update.m.incarnation : update.incarnation
    if (update.t === 'alive') {
      // Someone announces us with a newer incarnation (e.g. from before a restart): move past it.
      return inc > cur.record.incarnation ? { ...NOOP, refuteWith: inc + 1 } : NOOP
    }
    if (update.t === 'left') return NOOP
    return inc >= cur.record.incarnation ? { ...NOOP, refuteWith: inc + 1 } : NOOP
  }

  switch (update.t) {
    case 'alive': {
      const m = update.m
      if (cur === undefined) {
        table.set(actorId, newMember(m, 'alive', nowMs))
        return { ...NOOP, changed: true, transition: { actorId, from: 'unknown', to: 'alive' } }
      }
      const newer = m.incarnation > cur.record.incarnation
      const sameAlive = m.incarnation === cur.record.incarnation && cur.state === 'alive'
      const staleOverride = cur.stale && m.incarnation >= cur.record.incarnation
      if (newer || staleOverride) {
        const from = cur.state
        cur.record = m
        cur.stale = false
        cur.suspectedBy.clear()
        if (from !== 'alive') {
          cur.state = 'alive'
          cur.stateSinceMs = nowMs
          return { ...NOOP, changed: true, transition: { actorId, from, to: 'alive' } }
        }
        return { ...NOOP, changed: true }
      }
      if (sameAlive) {
        // a periodic re-announcement: refresh the record (dbVersion moves), gossip only real changes
        const recordChanged = !sameRecord(m, cur.record)
        cur.record = m
        return { ...NOOP, changed: recordChanged }
      }
      // older, or same incarnation while suspect/down/left: they must refute
      return { ...NOOP, remind: cur.state !== 'alive' }
    }
    case 'suspect': {
      if (cur === undefined || cur.stale) return NOOP
      if (update.incarnation < cur.record.incarnation) return NOOP
      if (cur.state === 'alive') {
        cur.state = 'suspect'
        cur.stateSinceMs = nowMs
        cur.record = { ...cur.record, incarnation: update.incarnation }
        cur.suspectedBy = new Set([update.from])
        return { ...NOOP, changed: true, transition: { actorId, from: 'alive', to: 'suspect' } }
      }
      if (cur.state === 'suspect') {
        if (update.incarnation > cur.record.incarnation) {
          cur.record = { ...cur.record, incarnation: update.incarnation }
          cur.suspectedBy = new Set([update.from])
          return { ...NOOP, changed: true }
        }
        if (cur.suspectedBy.has(update.from)) return NOOP
        cur.suspectedBy.add(update.from)
        return { ...NOOP, changed: true }
      }
      return NOOP
    }
    case 'down':
    case 'left': {
      if (cur === undefined) return NOOP
      if (update.incarnation < cur.record.incarnation) return NOOP
      const to: MemberState = update.t
      if (cur.state === 'down' || cur.state === 'left') {
        if (cur.state === to || update.incarnation === cur.record.incarnation) return NOOP
      }
      const from = cur.state
      cur.state = to
      cur.stateSinceMs = nowMs
      cur.stale = false
      cur.record = { ...cur.record, incarnation: update.incarnation }
      cur.suspectedBy.clear()
      return { ...NOOP, changed: true, transition: { actorId, from, to } }
    }
  }
}

function sameRecord(a: MemberRecord, b: MemberRecord): boolean {
  return (
    a.peerId === b.peerId &&
    a.apiAddr === b.apiAddr &&
    a.region === b.region &&
    a.role === b.role &&
    a.boot === b.boot &&
    a.addrs.length === b.addrs.length &&
    a.addrs.every((x, i) => x === b.addrs[i])
  )
}

/** The notice that describes `m`'s current state, to gossip or to remind it with. */
export function noticeFor(m: Member, fromActorId: string): MembershipUpdate {
  switch (m.state) {
    case 'alive':
      return { t: 'alive', m: m.record }
    case 'suspect':
      return { t: 'suspect', actorId: m.record.actorId, incarnation: m.record.incarnation, from: fromActorId }
    case 'down':
      return { t: 'down', actorId: m.record.actorId, incarnation: m.record.incarnation, from: fromActorId }
    case 'left':
      return { t: 'left', actorId: m.record.actorId, incarnation: m.record.incarnation }
  }
}

/** Members eligible as probe targets: alive or suspect, not us, not stale. */
export function probeCandidates(table: Map<string, Member>, selfActorId: string): Member[] {
  return [...table.values()].filter(
    (m) => m.record.actorId !== selfActorId && !m.stale && (m.state === 'alive' || m.state === 'suspect'),
  )
}

/** Count of members per state (ourselves included). */
export function countByState(table: Map<string, Member>): Record<MemberState, number> {
  const out: Record<MemberState, number> = { alive: 0, suspect: 0, down: 0, left: 0 }
  for (const m of table.values()) out[m.state]++
  return out
}
