/**
 * SWIM-style membership over a {@link Transport}: member records gossiped on the
 * membership topic (with recent state changes piggybacked, retransmit-limited), a
 * push-pull exchange of the whole table with every newly connected peer, periodic probes
 * (transport ping) with indirect probes through `indirectProbes` other members, suspicion
 * with a confirmation-shortened timeout, down, and refutation by incarnation.
 *
 * It also keeps the node connected: bootstrap addresses (and members remembered on disk)
 * are dialed with exponential backoff until a connection exists, connections are topped
 * up to `targetConnections`, and one unreachable member is re-dialed per maintenance
 * round so that partitions heal.
 */
import type { Logger } from 'pino'
import type { MemberInfo, MemberRole } from '@patina/api'
import type { FramedStream, TopicMessage, Transport } from '../transport/transport.js'
import type { ClusterClock, RandomSource, TimerHandle } from '../transport/time.js'
import { shuffled, withTimeout } from '../transport/time.js'
import {
  MessageKind,
  MessageRejectedError,
  decodeEnvelope,
  encodeEnvelope,
  expectRecord,
} from '../transport/envelope.js'
import type { ClusterMetrics } from '../transport/metrics.js'
import {
  applyUpdate,
  countByState,
  newMember,
  noticeFor,
  probeCandidates,
  type Member,
  type MemberRecord,
  type MembershipUpdate,
  type Transition,
  transitionLogLevel,
} from './members.js'
import { membershipBody, validateMembershipBody } from './codec.js'
import { expectedConfirmations, remainingSuspicionMs, retransmitLimit, suspicionMinMs } from './suspicion.js'
import { loadMembers, saveMembers } from './store.js'
import { componentLogger } from '../log.js'

export const PROBE_PROTOCOL = '/patina/probe/1'
export const PUSH_PULL_PROTOCOL = '/patina/members/1'
export const membershipTopic = (clusterId: string): string => `/patina/${clusterId}/members/1`

export interface MembershipOptions {
  clusterId: string
  /** Our identity and addresses as other members should see them. */
  self: { actorId: string; apiAddr: string | null; region: string; role: MemberRole }
  /** Addresses dialed to join (`host:port` or multiaddr). */
  bootstrap: string[]
  /** JSON file remembering known members across restarts; omit to remember nothing. */
  membersPath?: string
  /** Time between two probes (of different members), ms. */
  probeIntervalMs: number
  /** Time a direct probe may take before indirect probes start, ms. */
  probeTimeoutMs: number
  /** Members asked to probe a target that did not answer us. */
  indirectProbes: number
  /** Suspicion timeout multiplier (memberlist `SuspicionMult`). */
  suspicionMult: number
  /** Upper bound of the suspicion timeout as a multiple of its minimum. */
  suspicionMaxTimeoutMult: number
  /** Time between two announcements of our record on the membership topic, ms. */
  announceIntervalMs: number
  /** Time between two full-table exchanges with a random member, ms. */
  pushPullIntervalMs: number
  /** Connections kept open to other members (more are accepted). */
  targetConnections: number
  /** Time between two connection-maintenance rounds, ms. */
  maintainIntervalMs: number
  /** First and largest delay between two bootstrap attempts while unconnected, ms. */
  bootstrapRetryMinMs: number
  bootstrapRetryMaxMs: number
  /** How long a down or left member is remembered before being forgotten, ms. */
  downRetentionMs: number
  /** Piggyback each state change `ceil(retransmitMult * log10(n + 1))` times. */
  retransmitMult: number
  /** Largest membership message accepted, bytes. */
  maxMessageBytes: number
  /** Delay before writing the members file after a change, ms. */
  persistDebounceMs: number
}

export interface MembershipDeps {
  transport: Transport
  logger: Logger
  metrics: ClusterMetrics
  clock: ClusterClock
  random: RandomSource
  /** Our current db_version, announced as a sync-planning hint. */
  dbVersion: () => number
}

export interface Membership {
  start(): Promise<void>
  /** Announce that we leave, stop timers, persist. */
  stop(): Promise<void>
  /** The view for `GET /v1/cluster/members` (ourselves included). */
  members(): MemberInfo[]
  /** Other members currently alive (not stale). */
  alive(): Member[]
  /** Our own current record. */
  self(): MemberRecord
  /** The actor id behind a peer id, when known. */
  actorOfPeer(peerId: string): string | undefined
  /** Whether `actorId` is in the member table (any state). */
  hasActor(actorId: string): boolean
  /** Member state changes (ourselves excluded). */
  onChange(listener: (t: Transition) => void): () => void
  /** Called when we go from no connection to at least one (joined or re-joined). */
  onJoin(listener: () => void): () => void
  /** Gossip our record now (e.g. after a burst of writes moved dbVersion far). */
  announce(): void
}

interface Pending {
  update: MembershipUpdate
  left: number
}

const MAX_PIGGYBACK = 32

export function createMembership(deps: MembershipDeps, opts: MembershipOptions): Membership {
  const { transport, metrics, clock, random } = deps
  const log = componentLogger(deps.logger, 'membership')
  const topic = membershipTopic(opts.clusterId)
  const table = new Map<string, Member>()
  /** peer id → actor id, a cache of `table` validated on every read (see `actorOfPeer`). */
  const actorByPeer = new Map<string, string>()
  const pending: Pending[] = []
  const changeListeners = new Set<(t: Transition) => void>()
  const joinListeners = new Set<() => void>()
  const lastRemind = new Map<string, number>()
  const timers = new Set<TimerHandle>()
  const unsubs: (() => void)[] = []
  let running = false
  let probing = false
  let probeOrder: string[] = []
  let bootstrapDelayMs = opts.bootstrapRetryMinMs
  let nextBootstrapAt = 0
  let persistTimer: TimerHandle | null = null
  let wasConnected = false

  const selfActor = opts.self.actorId
  let selfMember: Member

  // ---------------------------------------------------------------- helpers
  const every = (ms: number, fn: () => void | Promise<void>): void => {
    const tick = (): void => {
      if (!running) return
      const jittered = ms * (0.9 + 0.2 * random())
      const h = clock.setTimeout(() => {
        timers.delete(h)
        if (!running) return
        void Promise.resolve()
          .then(fn)
          .catch((err: unknown) => log.warn({ err }, 'membership task failed'))
          .finally(tick)
      }, jittered)
      timers.add(h)
    }
    tick()
  }

  const liveCount = (): number =>
    [...table.values()].filter((m) => m.state === 'alive' || m.state === 'suspect').length

  const updateGauges = (): void => {
    const c = countByState(table)
    for (const [state, n] of Object.entries(c)) metrics.members.set({ state }, n)
  }

  const schedulePersist = (): void => {
    if (opts.membersPath === undefined || persistTimer !== null) return
    persistTimer = clock.setTimeout(() => {
      persistTimer = null
      persistNow()
    }, opts.persistDebounceMs)
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

  const enqueue = (update: MembershipUpdate): void => {
    const key = update.t === 'alive' ? update.m.actorId : update.actorId
    for (let i = pending.length - 1; i >= 0; i--) {
      const p = pending[i] as Pending
      const k = p.update.t === 'alive' ? p.update.m.actorId : p.update.actorId
      if (k === key) pending.splice(i, 1)
    }
    pending.push({ update, left: retransmitLimit(opts.retransmitMult, liveCount()) })
  }

  const publish = (updates: MembershipUpdate[]): void => {
    if (!running || updates.length === 0) return
    const bytes = encodeEnvelope(opts.clusterId, MessageKind.Membership, membershipBody(updates))
    metrics.messagesPublished.inc({ topic: 'membership' })
    metrics.bytesPublished.inc({ topic: 'membership' }, bytes.byteLength)
    transport.publish(topic, bytes).catch((err: unknown) => log.debug({ err }, 'membership publish failed'))
  }

  const selfRecord = (): MemberRecord => ({
    ...selfMember.record,
    addrs: safeAddresses(),
    dbVersion: deps.dbVersion(),
  })
  const safeAddresses = (): string[] => {
    try {
      return transport.addresses().slice(0, 16)
    } catch {
      return selfMember.record.addrs
    }
  }

  const announce = (): void => {
    selfMember.record = selfRecord()
    const updates: MembershipUpdate[] = [{ t: 'alive', m: selfMember.record }]
    for (const p of pending.slice(0, MAX_PIGGYBACK)) {
      updates.push(p.update)
      p.left--
    }
    for (let i = pending.length - 1; i >= 0; i--) if ((pending[i] as Pending).left <= 0) pending.splice(i, 1)
    publish(updates)
  }

  const refute = (incarnation: number): void => {
    if (incarnation <= selfMember.record.incarnation) return
    selfMember.record = { ...selfRecord(), incarnation }
    log.info({ incarnation }, 'refuting suspicion of this node')
    schedulePersist()
    publish([{ t: 'alive', m: selfMember.record }])
  }

  const emitTransition = (t: Transition): void => {
    log[transitionLogLevel(t.to)](
      { member: t.actorId, from: t.from, to: t.to },
      `member ${t.actorId} is ${t.to}`,
    )
    metrics.membershipTransitions.inc({ to: t.to })
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

  /** Applies updates from the network (or our own decisions). Returns whether anything changed. */
  const ingest = (updates: MembershipUpdate[]): void => {
    const now = clock.now()
    for (const u of updates) {
      // a new actor on a peer id already held by another actor replaces it (wiped database, new identity)
      if (u.t === 'alive' && u.m.actorId !== selfActor) {
        for (const other of table.values()) {
          if (
            other.record.peerId === u.m.peerId &&
            other.record.actorId !== u.m.actorId &&
            other.record.actorId !== selfActor &&
            (other.state === 'alive' || other.state === 'suspect') &&
            u.m.incarnation > other.record.incarnation
          ) {
            const out = applyUpdate(
              table,
              selfActor,
              {
                t: 'down',
                actorId: other.record.actorId,
                incarnation: other.record.incarnation,
                from: selfActor,
              },
              now,
            )
            if (out.transition !== null) emitTransition(out.transition)
          }
        }
      }
      const out = applyUpdate(table, selfActor, u, now)
      if (out.refuteWith !== null) refute(out.refuteWith)
      if (out.changed) {
        enqueue(u.t === 'alive' ? u : noticeFor(table.get(u.actorId) as Member, selfActor))
        if (u.t === 'alive') transport.addPeerAddresses(u.m.peerId, u.m.addrs)
      }
      if (out.transition !== null) emitTransition(out.transition)
      if (out.remind) {
        const id = u.t === 'alive' ? u.m.actorId : u.actorId
        const last = lastRemind.get(id) ?? -Infinity
        const m = table.get(id)
        if (m !== undefined && now - last >= opts.announceIntervalMs) {
          lastRemind.set(id, now)
          publish([noticeFor(m, selfActor)])
        }
      }
    }
  }

  const fullState = (): MembershipUpdate[] => {
    selfMember.record = selfRecord()
    return [...table.values()].filter((m) => !m.stale).map((m) => noticeFor(m, selfActor))
  }

  // ---------------------------------------------------------------- gossip in
  const onMessage = (msg: TopicMessage): void => {
    if (msg.topic !== topic || !running) return
    metrics.messagesReceived.inc({ topic: 'membership' })
    let updates: MembershipUpdate[]
    try {
      const env = decodeEnvelope(msg.data, {
        clusterId: opts.clusterId,
        maxBytes: opts.maxMessageBytes,
        expectKinds: [MessageKind.Membership],
      })
      updates = validateMembershipBody(env.body)
    } catch (err) {
      rejected('membership', err, msg.from)
      return
    }
    ingest(updates)
  }

  const rejected = (channel: string, err: unknown, from: string): void => {
    const reason = err instanceof MessageRejectedError ? err.reason : 'malformed'
    metrics.messagesRejected.inc({ channel, reason })
    log.debug({ from, reason, err: (err as Error).message }, `refused a ${channel} message`)
  }

  // ---------------------------------------------------------------- push-pull
  const readOne = async (stream: FramedStream): Promise<Uint8Array | null> => {
    for await (const f of stream.frames()) return f
    return null
  }

  const pushPull = async (peer: string): Promise<void> => {
    const stream = await transport.openStream(peer, PUSH_PULL_PROTOCOL)
    try {
      await stream.send(encodeEnvelope(opts.clusterId, MessageKind.Membership, membershipBody(fullState())))
      await stream.close()
      const frame = await withTimeout(
        clock,
        readOne(stream),
        opts.probeTimeoutMs * 4,
        () => new Error('push-pull timed out'),
      )
      if (frame === null) return
      try {
        const env = decodeEnvelope(frame, {
          clusterId: opts.clusterId,
          maxBytes: opts.maxMessageBytes,
          expectKinds: [MessageKind.Membership],
        })
        ingest(validateMembershipBody(env.body))
      } catch (err) {
        rejected('membership', err, peer)
        if (err instanceof MessageRejectedError && err.reason === 'wrong_cluster')
          await transport.hangUp(peer)
      }
    } finally {
      stream.abort()
    }
  }

  const servePushPull = async (stream: FramedStream): Promise<void> => {
    const frame = await withTimeout(
      clock,
      readOne(stream),
      opts.probeTimeoutMs * 4,
      () => new Error('push-pull timed out'),
    )
    if (frame === null) return stream.abort()
    try {
      const env = decodeEnvelope(frame, {
        clusterId: opts.clusterId,
        maxBytes: opts.maxMessageBytes,
        expectKinds: [MessageKind.Membership],
      })
      const updates = validateMembershipBody(env.body)
      await stream.send(encodeEnvelope(opts.clusterId, MessageKind.Membership, membershipBody(fullState())))
      await stream.close()
      ingest(updates)
    } catch (err) {
      rejected('membership', err, stream.remotePeer)
      stream.abort()
      if (err instanceof MessageRejectedError && err.reason === 'wrong_cluster')
        await transport.hangUp(stream.remotePeer)
    }
  }

  // ---------------------------------------------------------------- probes
  const serveProbe = async (stream: FramedStream): Promise<void> => {
    const frame = await withTimeout(
      clock,
      readOne(stream),
      opts.probeTimeoutMs * 2,
      () => new Error('probe request timed out'),
    )
    if (frame === null) return stream.abort()
    let target: string
    let timeoutMs: number
    try {
      const env = decodeEnvelope(frame, {
        clusterId: opts.clusterId,
        maxBytes: 4096,
        expectKinds: [MessageKind.ProbeRequest],
      })
      const body = expectRecord(env.body, 'probe request')
      if (typeof body['target'] !== 'string' || typeof body['timeoutMs'] !== 'number') {
        throw new MessageRejectedError('malformed', 'probe request needs target and timeoutMs')
      }
      target = body['target']
      timeoutMs = Math.min(Math.max(1, body['timeoutMs']), opts.probeTimeoutMs * 2)
    } catch (err) {
      rejected('probe', err, stream.remotePeer)
      return stream.abort()
    }
    const ok = await transport.ping(target, { timeoutMs }).then(
      () => true,
      () => false,
    )
    await stream.send(encodeEnvelope(opts.clusterId, MessageKind.ProbeResponse, { ok }))
    await stream.close()
  }

  const indirectProbe = async (helper: string, target: string): Promise<boolean> => {
    const stream = await transport.openStream(helper, PROBE_PROTOCOL)
    try {
      await stream.send(
        encodeEnvelope(opts.clusterId, MessageKind.ProbeRequest, { target, timeoutMs: opts.probeTimeoutMs }),
      )
      await stream.close()
      const frame = await readOne(stream)
      if (frame === null) return false
      const env = decodeEnvelope(frame, {
        clusterId: opts.clusterId,
        maxBytes: 4096,
        expectKinds: [MessageKind.ProbeResponse],
      })
      return expectRecord(env.body, 'probe response')['ok'] === true
    } finally {
      stream.abort()
    }
  }

  const nextProbeTarget = (): Member | undefined => {
    const candidates = probeCandidates(table, selfActor)
    if (candidates.length === 0) return undefined
    for (;;) {
      if (probeOrder.length === 0) probeOrder = shuffled(candidates, random).map((m) => m.record.actorId)
      const id = probeOrder.shift() as string
      const m = table.get(id)
      if (m !== undefined && (m.state === 'alive' || m.state === 'suspect') && !m.stale) return m
      if (probeOrder.length === 0) return undefined
    }
  }

  const probeRound = async (): Promise<void> => {
    checkSuspects()
    if (probing) return
    const target = nextProbeTarget()
    if (target === undefined) return
    probing = true
    try {
      const peer = target.record.peerId
      const direct = await transport.ping(peer, { timeoutMs: opts.probeTimeoutMs }).then(
        (rtt) => rtt,
        () => null,
      )
      if (direct !== null) {
        target.rttMs = direct
        metrics.probes.inc({ result: 'ok' })
        if (target.state === 'suspect') publish([noticeFor(target, selfActor)]) // let it refute
        return
      }
      const helpers = shuffled(
        probeCandidates(table, selfActor).filter(
          (m) => m.state === 'alive' && m.record.actorId !== target.record.actorId,
        ),
        random,
      ).slice(0, opts.indirectProbes)
      const results = await Promise.all(
        helpers.map((h) =>
          withTimeout(
            clock,
            indirectProbe(h.record.peerId, peer),
            opts.probeTimeoutMs * 3,
            () => new Error('timeout'),
          ).catch(() => false),
        ),
      )
      if (results.some((r) => r)) {
        metrics.probes.inc({ result: 'indirect_ok' })
        return
      }
      metrics.probes.inc({ result: 'failed' })
      const cur = table.get(target.record.actorId)
      if (!running || cur === undefined || cur.state !== 'alive') return
      const notice: MembershipUpdate = {
        t: 'suspect',
        actorId: cur.record.actorId,
        incarnation: cur.record.incarnation,
        from: selfActor,
      }
      ingest([notice])
      publish([notice])
    } finally {
      probing = false
    }
  }

  const checkSuspects = (): void => {
    const now = clock.now()
    const n = liveCount()
    const minMs = suspicionMinMs(n, opts.suspicionMult, opts.probeIntervalMs)
    const maxMs = minMs * opts.suspicionMaxTimeoutMult
    const k = expectedConfirmations(n, opts.suspicionMult)
    for (const m of [...table.values()]) {
      if (m.record.actorId === selfActor) continue
      if (m.state === 'suspect') {
        const confirmations = Math.max(0, m.suspectedBy.size - 1)
        if (remainingSuspicionMs(confirmations, k, now - m.stateSinceMs, minMs, maxMs) === 0) {
          const notice: MembershipUpdate = {
            t: 'down',
            actorId: m.record.actorId,
            incarnation: m.record.incarnation,
            from: selfActor,
          }
          ingest([notice])
          publish([notice])
        }
      } else if ((m.state === 'down' || m.state === 'left') && now - m.stateSinceMs > opts.downRetentionMs) {
        table.delete(m.record.actorId)
        updateGauges()
        schedulePersist()
      }
    }
  }

  // ---------------------------------------------------------------- connections
  const dialMember = async (m: Member): Promise<boolean> => {
    transport.addPeerAddresses(m.record.peerId, m.record.addrs)
    try {
      await transport.dial(m.record.peerId)
      return true
    } catch {
      for (const a of m.record.addrs) {
        try {
          await transport.dial(a)
          return true
        } catch {
          /* try the next address */
        }
      }
      return false
    }
  }

  const maintain = async (): Promise<void> => {
    const connected = new Set(transport.connectedPeers())
    const now = clock.now()
    if (connected.size === 0) {
      if (now < nextBootstrapAt) return
      const ok = await bootstrap()
      if (ok) {
        bootstrapDelayMs = opts.bootstrapRetryMinMs
        nextBootstrapAt = 0
      } else {
        nextBootstrapAt = now + bootstrapDelayMs
        bootstrapDelayMs = Math.min(bootstrapDelayMs * 2, opts.bootstrapRetryMaxMs)
      }
      return
    }
    const others = [...table.values()].filter(
      (m) => m.record.actorId !== selfActor && !connected.has(m.record.peerId),
    )
    const alive = shuffled(
      others.filter((m) => m.state === 'alive' && !m.stale),
      random,
    )
    const want = Math.max(0, opts.targetConnections - connected.size)
    await Promise.all(alive.slice(0, want).map((m) => dialMember(m)))
    // one member we cannot see (down, suspect or remembered from disk): partitions heal through this
    const unreachable = others.filter((m) => m.state !== 'alive' || m.stale).filter((m) => m.state !== 'left')
    const pick = shuffled(unreachable, random)[0]
    if (pick !== undefined) await dialMember(pick)
  }

  const bootstrap = async (): Promise<boolean> => {
    const remembered = shuffled(
      [...table.values()].filter((m) => m.record.actorId !== selfActor && m.state !== 'left'),
      random,
    ).slice(0, 5)
    const addrs = shuffled(opts.bootstrap, random).slice(0, 10)
    const attempts: Promise<boolean>[] = [
      ...addrs.map((a) =>
        transport.dial(a).then(
          () => true,
          (err: unknown) => {
            log.debug({ addr: a, err: (err as Error).message }, 'bootstrap dial failed')
            return false
          },
        ),
      ),
      ...remembered.map((m) => dialMember(m)),
    ]
    if (attempts.length === 0) return false
    const results = await Promise.all(attempts)
    const ok = results.some((r) => r)
    if (!ok)
      log.info({ bootstrap: opts.bootstrap, retryInMs: bootstrapDelayMs }, 'no bootstrap peer reachable yet')
    return ok
  }

  const onPeer = (peer: string, type: 'connect' | 'disconnect'): void => {
    if (!running) return
    const connectedNow = transport.connectedPeers().length > 0
    if (type === 'connect') {
      pushPull(peer).catch((err: unknown) =>
        log.debug({ peer, err: (err as Error).message }, 'push-pull failed'),
      )
      if (!wasConnected) {
        wasConnected = true
        log.info({ peer }, 'joined the cluster')
        for (const l of [...joinListeners]) {
          try {
            l()
          } catch (err) {
            log.warn({ err }, 'join listener failed')
          }
        }
      }
    } else if (!connectedNow) {
      wasConnected = false
      log.warn('lost every connection to the cluster')
    }
  }

  // ---------------------------------------------------------------- lifecycle
  const membership: Membership = {
    async start() {
      if (running) return
      running = true
      const now = clock.now()
      const persisted = opts.membersPath !== undefined ? loadMembers(opts.membersPath) : null
      const incarnation = Math.max((persisted?.incarnation ?? 0) + 1, Math.floor(now / 1000))
      selfMember = newMember(
        {
          actorId: selfActor,
          peerId: transport.peerId,
          addrs: [],
          apiAddr: opts.self.apiAddr,
          region: opts.self.region,
          role: opts.self.role,
          incarnation,
          dbVersion: 0,
        },
        'alive',
        now,
      )
      selfMember.record = selfRecord()
      table.set(selfActor, selfMember)
      for (const p of persisted?.members ?? []) {
        if (p.record.actorId === selfActor || p.state === 'left') continue
        if (now - p.updatedAtMs > opts.downRetentionMs && p.state === 'down') continue
        table.set(p.record.actorId, newMember(p.record, 'down', now, true))
        transport.addPeerAddresses(p.record.peerId, p.record.addrs)
      }
      updateGauges()
      transport.subscribe(topic)
      unsubs.push(transport.onMessage(onMessage))
      unsubs.push(transport.onPeer((e) => onPeer(e.peer, e.type)))
      transport.handle(PROBE_PROTOCOL, serveProbe)
      transport.handle(PUSH_PULL_PROTOCOL, servePushPull)
      every(opts.probeIntervalMs, probeRound)
      every(opts.announceIntervalMs, announce)
      every(opts.maintainIntervalMs, maintain)
      every(opts.pushPullIntervalMs, async () => {
        const peers = transport.connectedPeers()
        const peer = shuffled(peers, random)[0]
        if (peer !== undefined) await pushPull(peer)
      })
      for (const p of transport.connectedPeers()) onPeer(p, 'connect')
      void maintain().catch((err: unknown) => log.warn({ err }, 'initial join failed'))
    },

    async stop() {
      if (!running) return
      publish([{ t: 'left', actorId: selfActor, incarnation: selfMember.record.incarnation }])
      running = false
      for (const h of timers) clock.clearTimeout(h)
      timers.clear()
      if (persistTimer !== null) clock.clearTimeout(persistTimer)
      persistTimer = null
      for (const u of unsubs.splice(0)) u()
      persistNow()
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

    alive() {
      return [...table.values()].filter(
        (m) => m.record.actorId !== selfActor && m.state === 'alive' && !m.stale,
      )
    },

    self: () => selfRecord(),

    hasActor(actorId) {
      return table.has(actorId)
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

    onChange(listener) {
      changeListeners.add(listener)
      return () => changeListeners.delete(listener)
    },

    onJoin(listener) {
      joinListeners.add(listener)
      return () => joinListeners.delete(listener)
    },

    announce,
  }
  return membership
}
