/**
 * This node's view of the membership: the member table (pure rules in `members.ts`) with
 * everything that follows a change — transitions to listeners, logs and metrics (flaps
 * included), the piggyback queue, refutation of suspicions about us, the members file — and
 * the membership topic in both directions (our periodic announcement, received updates).
 */
import type { MemberInfo } from '@patina/api'
import type { TopicMessage } from '../transport/transport.js'
import type { TimerHandle } from '../runtime/clock.js'
import { MessageKind, decodeEnvelope, encodeEnvelope } from '../wire/envelope.js'
import {
  applyUpdate,
  countByState,
  newMember,
  noticeFor,
  type Member,
  type MemberRecord,
  type MembershipUpdate,
  type Transition,
  transitionLogLevel,
} from './members.js'
import { membershipBody, validateMembershipBody } from './codec.js'
import { membershipTopic, rejected, type MembershipEnv } from './context.js'
import { createPiggybackQueue, subjectOf } from './piggyback.js'
import { saveMembers, type PersistedMembers } from './store.js'

/** Most piggybacked updates per announcement. */
const MAX_PIGGYBACK = 32

export interface MemberView {
  readonly table: ReadonlyMap<string, Member>
  /** Create our own entry and load the remembered members (as stale `down`). */
  load(persisted: PersistedMembers | null): void
  /** Our record with current addresses and db_version. */
  selfRecord(): MemberRecord
  ingest(updates: MembershipUpdate[]): void
  /** Publish `updates` on the membership topic now. */
  publish(updates: MembershipUpdate[]): void
  /** Our record plus piggybacked recent changes. */
  announce(): void
  onMessage(msg: TopicMessage): void
  /** Every member (ourselves included) as a list of notices, for push-pull. */
  fullState(): MembershipUpdate[]
  /** Members alive or suspect, ourselves included. */
  liveCount(): number
  /** Other members alive and not stale. */
  alive(): Member[]
  members(): MemberInfo[]
  actorOfPeer(peerId: string): string | undefined
  /** Forget a down or left member (after `downRetentionMs`). */
  forget(actorId: string): void
  onChange(listener: (t: Transition) => void): () => void
  /** Cancel the pending write of the members file and write it now. */
  flush(): void
}

export interface ViewHooks {
  dbVersion: () => number
  /** Called when we refute a suspicion of ourselves (a hint that we are slow). */
  refuted: () => void
}

export function createMemberView(env: MembershipEnv, hooks: ViewHooks): MemberView {
  const { opts, transport, clock, metrics, memberMetrics, log, selfActor } = env
  const topic = membershipTopic(opts.clusterId)
  const table = new Map<string, Member>()
  /** peer id → actor id, a cache of `table` validated on every read (see `actorOfPeer`). */
  const actorByPeer = new Map<string, string>()
  const queue = createPiggybackQueue(opts.retransmitMult)
  const changeListeners = new Set<(t: Transition) => void>()
  const lastRemind = new Map<string, number>()
  let persistTimer: TimerHandle | null = null
  let selfMember: Member

  const updateGauges = (): void => {
    for (const [state, n] of Object.entries(countByState(table))) metrics.members.set({ state }, n)
  }

  const persistNow = (): void => {
    if (opts.membersPath === undefined) return
    try {
      saveMembers(opts.membersPath, {
        incarnation: selfMember.record.incarnation,
        members: [...table.values()]
          .filter((m) => m.record.actorId !== selfActor)
          .map((m) => ({ record: m.record, state: m.state, updatedAtMs: m.stateSinceMs })),
      })
    } catch (err) {
      log.warn({ err, path: opts.membersPath }, 'could not write the members file')
    }
  }
  const schedulePersist = (): void => {
    if (opts.membersPath === undefined || persistTimer !== null) return
    persistTimer = clock.setTimeout(() => {
      persistTimer = null
      persistNow()
    }, opts.persistDebounceMs)
  }

  const safeAddresses = (): string[] => {
    try {
      return transport.addresses().slice(0, 16)
    } catch {
      return selfMember.record.addrs
    }
  }
  const selfRecord = (): MemberRecord => ({
    ...selfMember.record,
    addrs: safeAddresses(),
    dbVersion: hooks.dbVersion(),
  })

  const liveCount = (): number =>
    [...table.values()].filter((m) => m.state === 'alive' || m.state === 'suspect').length

  const publish = (updates: MembershipUpdate[]): void => {
    if (!env.running() || updates.length === 0) return
    const bytes = encodeEnvelope(opts.clusterId, MessageKind.Membership, membershipBody(updates))
    metrics.messagesPublished.inc({ topic: 'membership' })
    metrics.bytesPublished.inc({ topic: 'membership' }, bytes.byteLength)
    transport.publish(topic, bytes).catch((err: unknown) => log.debug({ err }, 'membership publish failed'))
  }

  const refute = (incarnation: number): void => {
    if (incarnation <= selfMember.record.incarnation) return
    selfMember.record = { ...selfRecord(), incarnation }
    log.info({ incarnation }, 'refuting suspicion of this node')
    hooks.refuted()
    schedulePersist()
    publish([{ t: 'alive', m: selfMember.record }])
  }

  const emitTransition = (t: Transition, bootBefore: number | undefined): void => {
    log[transitionLogLevel(t.to)](
      { member: t.actorId, from: t.from, to: t.to },
      `member ${t.actorId} is ${t.to}`,
    )
    metrics.membershipTransitions.inc({ to: t.to })
    const boot = table.get(t.actorId)?.record.boot ?? 0
    if (t.to === 'alive' && (t.from === 'suspect' || t.from === 'down') && boot !== 0 && boot === bootBefore)
      memberMetrics.flaps.inc({ from: t.from })
    updateGauges()
    schedulePersist()
    for (const l of [...changeListeners]) {
      try {
        l(t)
      } catch (err) {
        log.warn({ err }, 'membership listener failed')
      }
    }
  }

  /** A new actor on a peer id held by another live actor replaces it (wiped database, new identity). */
  const replaceActorsOfPeer = (m: MemberRecord, now: number): void => {
    for (const other of [...table.values()]) {
      const o = other.record
      if (o.peerId !== m.peerId || o.actorId === m.actorId || o.actorId === selfActor) continue
      if ((other.state !== 'alive' && other.state !== 'suspect') || m.incarnation <= o.incarnation) continue
      const down: MembershipUpdate = {
        t: 'down',
        actorId: o.actorId,
        incarnation: o.incarnation,
        from: selfActor,
      }
      const out = applyUpdate(table, selfActor, down, now)
      if (out.transition !== null) emitTransition(out.transition, o.boot)
    }
  }

  const ingest = (updates: MembershipUpdate[]): void => {
    const now = clock.now()
    for (const u of updates) {
      if (u.t === 'alive' && u.m.actorId !== selfActor) replaceActorsOfPeer(u.m, now)
      const id = subjectOf(u)
      const bootBefore = table.get(id)?.record.boot
      const out = applyUpdate(table, selfActor, u, now)
      if (out.refuteWith !== null) refute(out.refuteWith)
      if (out.changed) {
        queue.enqueue(u.t === 'alive' ? u : noticeFor(table.get(id) as Member, selfActor))
        if (u.t === 'alive') transport.addPeerAddresses(u.m.peerId, u.m.addrs)
      }
      if (out.transition !== null) emitTransition(out.transition, bootBefore)
      if (out.remind) {
        const last = lastRemind.get(id) ?? -Infinity
        const m = table.get(id)
        if (m !== undefined && now - last >= opts.announceIntervalMs) {
          lastRemind.set(id, now)
          publish([noticeFor(m, selfActor)])
        }
      }
    }
  }

  return {
    table,

    load(persisted) {
      const now = clock.now()
      const incarnation = Math.max((persisted?.incarnation ?? 0) + 1, Math.floor(now / 1000))
      const boot = 1 + Math.floor(env.random() * 0x7ffffffe)
      const record: MemberRecord = {
        actorId: selfActor,
        peerId: transport.peerId,
        addrs: [],
        apiAddr: opts.self.apiAddr,
        region: opts.self.region,
        role: opts.self.role,
        incarnation,
        dbVersion: 0,
        boot,
      }
      selfMember = newMember(record, 'alive', now)
      selfMember.record = selfRecord()
      table.set(selfActor, selfMember)
      for (const p of persisted?.members ?? []) {
        if (p.record.actorId === selfActor || p.state === 'left') continue
        if (now - p.updatedAtMs > opts.downRetentionMs && p.state === 'down') continue
        table.set(p.record.actorId, newMember(p.record, 'down', now, true))
        transport.addPeerAddresses(p.record.peerId, p.record.addrs)
      }
      updateGauges()
    },

    selfRecord,
    ingest,
    publish,

    announce() {
      selfMember.record = selfRecord()
      publish([{ t: 'alive', m: selfMember.record }, ...queue.take(MAX_PIGGYBACK, liveCount())])
    },

    onMessage(msg) {
      if (msg.topic !== topic || !env.running()) return
      metrics.messagesReceived.inc({ topic: 'membership' })
      let updates: MembershipUpdate[]
      try {
        const e = decodeEnvelope(msg.data, {
          clusterId: opts.clusterId,
          maxBytes: opts.maxMessageBytes,
          expectKinds: [MessageKind.Membership],
        })
        updates = validateMembershipBody(e.body)
      } catch (err) {
        rejected(env, 'membership', err, msg.from)
        return
      }
      ingest(updates)
    },

    fullState() {
      selfMember.record = selfRecord()
      return [...table.values()].filter((m) => !m.stale).map((m) => noticeFor(m, selfActor))
    },

    liveCount,

    alive() {
      return [...table.values()].filter(
        (m) => m.record.actorId !== selfActor && m.state === 'alive' && !m.stale,
      )
    },

    members() {
      return [...table.values()].map((m) => ({
        actor_id: m.record.actorId,
        peer_id: m.record.peerId,
        gossip_addrs: m.record.actorId === selfActor ? safeAddresses() : m.record.addrs,
        api_addr: m.record.apiAddr,
        region: m.record.region,
        role: m.record.role,
        incarnation: m.record.incarnation,
        state: m.state,
        rtt_ms: m.rttMs,
        self: m.record.actorId === selfActor,
      }))
    },

    actorOfPeer(peerId) {
      // Called for every received changeset: answer from a cache checked against the table
      // (O(1)), and scan only on a miss or a stale entry.
      const cached = actorByPeer.get(peerId)
      if (cached !== undefined) {
        const m = table.get(cached)
        if (m !== undefined && m.record.peerId === peerId && m.state !== 'down') return cached
      }
      let found: string | undefined
      for (const m of table.values())
        if (m.record.peerId === peerId && m.state !== 'down') {
          found = m.record.actorId
          break
        }
      if (found === undefined)
        for (const m of table.values()) if (m.record.peerId === peerId) found = m.record.actorId
      if (found !== undefined) actorByPeer.set(peerId, found)
      else actorByPeer.delete(peerId)
      return found
    },

    forget(actorId) {
      if (actorId === selfActor || !table.delete(actorId)) return
      updateGauges()
      schedulePersist()
    },

    onChange(listener) {
      changeListeners.add(listener)
      return () => changeListeners.delete(listener)
    },

    flush() {
      if (persistTimer !== null) clock.clearTimeout(persistTimer)
      persistTimer = null
      persistNow()
    },
  }
}
