/**
 * Keeping this node connected, whatever the start order (one round every `maintainIntervalMs`):
 * 1. every bootstrap entry is contacted on its own schedule (`bootstrap.ts`): retried with
 *    backoff while it is not a live member, never giving up, and contacted again at a slow
 *    pace once it is, each contact resolving host names again, dialing, and exchanging member
 *    tables (push-pull) — so that groups that formed apart merge;
 * 2. while this node holds no connection at all, up to 5 remembered members are dialed too
 *    (with backoff);
 * 3. connections are topped up to `targetConnections` alive members;
 * 4. one unreachable member (suspect, down, or remembered) is re-dialed, so partitions heal.
 */
import { shuffled } from '../runtime/clock.js'
import { toMultiaddrString } from '../transport/address.js'
import { backoffDelayMs } from '@patina/client'
import type { Member } from './members.js'
import {
  afterContact,
  bootstrapEntries,
  dueEntries,
  type BootstrapEntry,
  type BootstrapResult,
} from './bootstrap.js'
import type { MembershipEnv } from './context.js'
import type { PushPull } from './push-pull.js'
import type { Resolver } from './resolve.js'
import type { MemberView } from './view.js'

/** Bootstrap entries contacted at once. */
const MAX_PARALLEL_CONTACTS = 10
/** Remembered members dialed at once while alone. */
const MAX_REJOIN_DIALS = 5

export interface Connections {
  maintain(): Promise<void>
  onPeer(peer: string, type: 'connect' | 'disconnect'): void
  onJoin(listener: () => void): () => void
  /** The bootstrap schedule, for tests and diagnostics. */
  bootstrap(): readonly BootstrapEntry[]
}

/** Address without its `/p2p/<id>` part, as a multiaddr when it parses as one. */
function normalized(addr: string): string {
  try {
    return toMultiaddrString(addr).replace(/\/p2p\/[^/]+$/, '')
  } catch {
    return addr
  }
}

export function createConnections(
  env: MembershipEnv,
  view: MemberView,
  pushPull: PushPull,
  resolve: Resolver,
): Connections {
  const { opts, transport, clock, random, log, memberMetrics, selfActor } = env
  const timing = {
    retryMinMs: opts.bootstrapRetryMinMs,
    retryMaxMs: opts.bootstrapRetryMaxMs,
    announceIntervalMs: opts.bootstrapAnnounceIntervalMs,
  }
  let entries = bootstrapEntries(opts.bootstrap)
  const joinListeners = new Set<() => void>()
  let wasConnected = false
  let rejoinFailures = 0
  let nextRejoinAt = 0

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

  const isOwnAddress = (addr: string): boolean => {
    let ours: string[]
    try {
      ours = transport.addresses().map(normalized)
    } catch {
      return false
    }
    return ours.includes(normalized(addr))
  }

  const contact = async (e: BootstrapEntry): Promise<BootstrapResult> => {
    // still connected to the peer this entry led to: exchange tables over that connection
    if (e.peer !== null && transport.connectedPeers().includes(e.peer)) {
      try {
        await pushPull.exchange(e.peer)
        return { kind: 'ok', peer: e.peer }
      } catch (err) {
        log.debug({ entry: e.addr, peer: e.peer, err: (err as Error).message }, 'bootstrap push-pull failed')
      }
    }
    const addrs = await resolve(e.addr)
    if (addrs.length > 0 && addrs.every(isOwnAddress)) return { kind: 'self' }
    for (const a of addrs) {
      if (isOwnAddress(a)) continue
      let peer: string
      try {
        peer = await transport.dial(a)
      } catch (err) {
        if (/\bself\b/i.test((err as Error).message)) return { kind: 'self' }
        log.debug({ entry: e.addr, addr: a, err: (err as Error).message }, 'bootstrap dial failed')
        continue
      }
      if (peer === transport.peerId) return { kind: 'self' }
      try {
        await pushPull.exchange(peer)
        return { kind: 'ok', peer }
      } catch (err) {
        log.debug({ entry: e.addr, peer, err: (err as Error).message }, 'bootstrap push-pull failed')
      }
    }
    return { kind: 'failed' }
  }

  const contactEntry = async (e: BootstrapEntry): Promise<void> => {
    const result = await contact(e).catch((): BootstrapResult => ({ kind: 'failed' }))
    memberMetrics.bootstrapContacts.inc({ result: result.kind })
    const next = afterContact(e, result, clock.now(), random())
    entries = entries.map((x) => (x.addr === e.addr ? next : x))
    if (result.kind === 'ok' && e.failures > 0)
      log.info({ entry: e.addr, peer: result.peer, after: e.failures }, 'reached bootstrap entry')
    if (
      result.kind === 'failed' &&
      transport.connectedPeers().length === 0 &&
      (next.failures & (next.failures - 1)) === 0
    )
      log.info(
        { entry: e.addr, failures: next.failures },
        'no bootstrap peer reachable yet; retrying with backoff',
      )
  }

  /** While alone: dial remembered and known members, with backoff. */
  const rejoin = async (now: number): Promise<void> => {
    if (now < nextRejoinAt) return
    const known = shuffled(
      [...view.table.values()].filter((m) => m.record.actorId !== selfActor && m.state !== 'left'),
      random,
    ).slice(0, MAX_REJOIN_DIALS)
    if (known.length === 0) return
    const ok = (await Promise.all(known.map(dialMember))).some((r) => r)
    rejoinFailures = ok ? 0 : rejoinFailures + 1
    nextRejoinAt = ok
      ? 0
      : now +
        backoffDelayMs(
          rejoinFailures - 1,
          { baseMs: opts.bootstrapRetryMinMs, maxMs: opts.bootstrapRetryMaxMs, factor: 2, jitter: 0.2 },
          random(),
        )
  }

  return {
    async maintain() {
      const now = clock.now()
      const live = new Set(view.alive().map((m) => m.record.peerId))
      const due = dueEntries(entries, now, timing, (p) => live.has(p), transport.connectedPeers().length > 0)
      for (let i = 0; i < due.length; i += MAX_PARALLEL_CONTACTS)
        await Promise.all(due.slice(i, i + MAX_PARALLEL_CONTACTS).map(contactEntry))
      if (!env.running()) return
      if (transport.connectedPeers().length === 0) return rejoin(now)
      const connected = new Set(transport.connectedPeers())
      const others = [...view.table.values()].filter(
        (m) => m.record.actorId !== selfActor && !connected.has(m.record.peerId),
      )
      const alive = shuffled(
        others.filter((m) => m.state === 'alive' && !m.stale),
        random,
      )
      const want = Math.max(0, opts.targetConnections - connected.size)
      await Promise.all(alive.slice(0, want).map(dialMember))
      // one member we cannot see (down, suspect or remembered from disk): partitions heal through this
      const unreachable = others.filter((m) => (m.state !== 'alive' || m.stale) && m.state !== 'left')
      const pick = shuffled(unreachable, random)[0]
      if (pick !== undefined) await dialMember(pick)
    },

    onPeer(peer, type) {
      if (!env.running()) return
      if (type === 'connect') {
        pushPull
          .exchange(peer)
          .catch((err: unknown) => log.debug({ peer, err: (err as Error).message }, 'push-pull failed'))
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
      } else if (transport.connectedPeers().length === 0 && wasConnected) {
        wasConnected = false
        rejoinFailures = 0
        nextRejoinAt = 0
        log.warn('lost every connection to the cluster')
      }
    },

    onJoin(listener) {
      joinListeners.add(listener)
      return () => joinListeners.delete(listener)
    },

    bootstrap: () => entries,
  }
}
