/**
 * Isolation made visible (the decisions are in `contact.ts`): records contact with other
 * members, and reports isolation in metrics and in the log — once when it starts, then every
 * minute (or `isolationAfterMs`, if longer) while it lasts, and once when it ends.
 */
import {
  initialContact,
  isolationLog,
  isolationStatus,
  withContact,
  withReachable,
  type IsolationStatus,
} from './contact.js'
import type { MembershipEnv } from './context.js'
import type { MemberView } from './view.js'

export interface IsolationWatch {
  /** Something was received from `peer` (counted when it is a known member). */
  contact(peer: string): void
  /** Re-evaluate: metrics and log lines. */
  check(): void
  status(): IsolationStatus
}

/** Contacts closer together than this update nothing (gossip can bring thousands per second). */
const CONTACT_RESOLUTION_MS = 50

export function createIsolationWatch(env: MembershipEnv, view: MemberView): IsolationWatch {
  const { opts, clock, log, memberMetrics, selfActor, transport } = env
  const knowsOthers = (): boolean => [...view.table.keys()].some((id) => id !== selfActor)
  let state = initialContact(clock.now(), opts.bootstrap.length > 0 || knowsOthers())
  let wasIsolated = false
  let lastLogAt: number | null = null
  const repeatMs = Math.max(60_000, opts.isolationAfterMs)

  const status = (): IsolationStatus => {
    const now = clock.now()
    const reachable = view.alive().length
    state = withReachable(state, reachable, now, knowsOthers())
    return isolationStatus(state, now, reachable, opts.isolationAfterMs)
  }

  return {
    contact(peer) {
      const now = clock.now()
      if (state.lastContactAtMs !== null && now - state.lastContactAtMs < CONTACT_RESOLUTION_MS) return
      if (peer === transport.peerId) return
      const actor = view.actorOfPeer(peer)
      if (actor === undefined || actor === selfActor) return
      state = withContact(state, now)
      memberMetrics.lastContact.set(now / 1000)
    },

    check() {
      const s = status()
      memberMetrics.isolated.set(s.isolated ? 1 : 0)
      memberMetrics.reachable.set(s.reachableMembers)
      const now = clock.now()
      const what = isolationLog(wasIsolated, s.isolated, lastLogAt, now, repeatMs)
      wasIsolated = s.isolated
      if (what === null) return
      lastLogAt = now
      const fields = {
        lastContactMs: s.lastContactMs,
        knownMembers: view.table.size - 1,
        bootstrap: opts.bootstrap,
      }
      if (what === 'rejoined')
        log.info(
          { ...fields, reachable: s.reachableMembers },
          'no longer isolated: other members are reachable again',
        )
      else
        log.warn(
          fields,
          `this node is isolated: no other member alive for over ${Math.round(opts.isolationAfterMs / 1000)} s; writes stay local until it reconnects (still trying bootstrap entries and known members)`,
        )
    },

    status,
  }
}
