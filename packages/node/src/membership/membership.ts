/**
 * SWIM-style membership over a {@link Transport}, assembled from parts of one concern each:
 * - `view.ts`: the member table, its change events, the membership topic (our announcements
 *   with recent changes piggybacked, `piggyback.ts`), refutation, the members file;
 * - `probe.ts`: failure detection (probes, indirect probes, suspicion, down) with local
 *   health awareness (`awareness.ts`);
 * - `push-pull.ts`: whole-table exchanges;
 * - `connections.ts`: bootstrap entries contacted forever (`bootstrap.ts`, `resolve.ts`),
 *   rejoining, topping up connections, healing partitions;
 * - `isolation.ts`: contact with other members, and isolation in metrics and logs (`contact.ts`).
 *
 * This file runs their timers and exposes the view.
 */
import type { MemberInfo } from '@patina/api'
import type { TimerHandle } from '../runtime/clock.js'
import { shuffled } from '../runtime/clock.js'
import type { Member, MemberRecord, Transition } from './members.js'
import {
  PROBE_PROTOCOL,
  PUSH_PULL_PROTOCOL,
  membershipTopic,
  type MembershipDeps,
  type MembershipEnv,
  type MembershipOptions,
} from './context.js'
import { createConnections, type Connections } from './connections.js'
import type { IsolationStatus } from './contact.js'
import { createIsolationWatch, type IsolationWatch } from './isolation.js'
import { createProber } from './probe.js'
import { createPushPull } from './push-pull.js'
import { createResolver } from './resolve.js'
import { loadMembers } from './store.js'
import { createMemberView } from './view.js'
import { componentLogger } from '../runtime/log.js'

export { PROBE_PROTOCOL, PUSH_PULL_PROTOCOL, membershipTopic }
export type { MembershipDeps, MembershipOptions }
export type { IsolationStatus } from './contact.js'

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
  /** Something was received from `peer` (any protocol): counts as contact when it is a member. */
  noteContact(peer: string): void
  /** How current this node is: isolation, time since last contact, reachable members. */
  isolation(): IsolationStatus
  /** Local health score (0 = healthy; probe timeouts are scaled by score + 1). */
  healthScore(): number
  /** The bootstrap schedule (diagnostics). */
  bootstrapEntries(): readonly { addr: string; failures: number; peer: string | null; self: boolean }[]
}

export function createMembership(deps: MembershipDeps, opts: MembershipOptions): Membership {
  const { transport, clock, random } = deps
  const timers = new Set<TimerHandle>()
  const unsubs: (() => void)[] = []
  let running = false
  const env: MembershipEnv = {
    opts,
    transport,
    clock,
    random,
    log: componentLogger(deps.logger, 'membership'),
    metrics: deps.metrics,
    memberMetrics: deps.memberMetrics,
    selfActor: opts.self.actorId,
    running: () => running,
  }
  const contact = (peer: string): void => isolation?.contact(peer)
  const view = createMemberView(env, { dbVersion: deps.dbVersion, refuted: () => prober.adjust(1) })
  const prober = createProber(env, view, { contact })
  const pushPull = createPushPull(env, view, { contact })
  const connections: Connections = createConnections(env, view, pushPull, deps.resolve ?? createResolver())
  let isolation: IsolationWatch | undefined

  /** Run `fn` every `ms()` (±10 %), never overlapping; `fn` learns how late its timer fired. */
  const every = (ms: () => number, fn: (lateMs: number) => void | Promise<void>): void => {
    const tick = (): void => {
      if (!running) return
      const delay = ms() * (0.9 + 0.2 * random())
      const due = clock.now() + delay
      const h = clock.setTimeout(() => {
        timers.delete(h)
        if (!running) return
        void Promise.resolve()
          .then(() => fn(Math.max(0, clock.now() - due)))
          .catch((err: unknown) => env.log.warn({ err }, 'membership task failed'))
          .finally(tick)
      }, delay)
      timers.add(h)
    }
    tick()
  }

  return {
    async start() {
      if (running) return
      running = true
      view.load(opts.membersPath !== undefined ? loadMembers(opts.membersPath) : null)
      const watch = createIsolationWatch(env, view)
      isolation = watch
      transport.subscribe(membershipTopic(opts.clusterId))
      unsubs.push(transport.onMessage((m) => view.onMessage(m)))
      unsubs.push(transport.onPeer((e) => connections.onPeer(e.peer, e.type)))
      unsubs.push(view.onChange(() => watch.check()))
      transport.handle(PROBE_PROTOCOL, (s) => prober.serve(s))
      transport.handle(PUSH_PULL_PROTOCOL, (s) => pushPull.serve(s))
      every(prober.intervalMs, (late) => prober.round(late))
      every(
        () => opts.announceIntervalMs,
        () => view.announce(),
      )
      every(
        () => opts.maintainIntervalMs,
        async () => {
          await connections.maintain()
          watch.check()
        },
      )
      every(
        () => opts.pushPullIntervalMs,
        async () => {
          const peer = shuffled(transport.connectedPeers(), random)[0]
          if (peer === undefined) return
          // a peer that is no member (a sync-only client) or a connection closing: nothing to report
          await pushPull
            .exchange(peer)
            .catch((err: unknown) => env.log.debug({ peer, err: (err as Error).message }, 'push-pull failed'))
        },
      )
      for (const p of transport.connectedPeers()) connections.onPeer(p, 'connect')
      watch.check()
      void connections.maintain().catch((err: unknown) => env.log.warn({ err }, 'initial join failed'))
    },

    async stop() {
      if (!running) return
      view.publish([{ t: 'left', actorId: env.selfActor, incarnation: view.selfRecord().incarnation }])
      running = false
      for (const h of timers) clock.clearTimeout(h)
      timers.clear()
      for (const u of unsubs.splice(0)) u()
      view.flush()
    },

    members: () => view.members(),
    alive: () => view.alive(),
    self: () => view.selfRecord(),
    hasActor: (actorId) => view.table.has(actorId),
    actorOfPeer: (peerId) => view.actorOfPeer(peerId),
    onChange: (listener) => view.onChange(listener),
    onJoin: (listener) => connections.onJoin(listener),
    announce: () => view.announce(),
    noteContact: contact,
    isolation: () => isolation?.status() ?? { isolated: false, lastContactMs: null, reachableMembers: 0 },
    healthScore: () => prober.score(),
    bootstrapEntries: () => connections.bootstrap(),
  }
}
