/**
 * The piggyback queue (memberlist `TransmitLimitedQueue`), pure: recent membership state
 * changes waiting to ride along on our periodic announcements. Each change is sent
 * `retransmitLimit(retransmitMult, n)` times, fewest-sent first (newest first among equals), and
 * a newer change about the same member replaces the older one.
 */
import type { MembershipUpdate } from './members.js'
import { retransmitLimit } from './suspicion.js'

export interface PiggybackQueue {
  /** Queue `update`, replacing any queued update about the same member. */
  enqueue(update: MembershipUpdate): void
  /**
   * Up to `max` updates to send now, for a cluster of `liveMembers`; each taken update counts
   * one transmission and leaves the queue when it reaches the limit.
   */
  take(max: number, liveMembers: number): MembershipUpdate[]
  size(): number
}

interface Item {
  update: MembershipUpdate
  transmits: number
  /** Insertion order: larger is newer. */
  seq: number
}

/** The member an update is about. */
export function subjectOf(update: MembershipUpdate): string {
  return update.t === 'alive' ? update.m.actorId : update.actorId
}

/**
 * @param retransmitMult each update is sent `ceil(retransmitMult × log10(n + 1))` times
 * @param maxItems oldest updates are dropped beyond this many (a burst of changes in a huge
 *   cluster must not grow the queue without bound; push-pull repairs what is dropped)
 */
export function createPiggybackQueue(retransmitMult: number, maxItems = 4096): PiggybackQueue {
  const items = new Map<string, Item>()
  let seq = 0
  return {
    enqueue(update) {
      const key = subjectOf(update)
      items.delete(key)
      items.set(key, { update, transmits: 0, seq: seq++ })
      // Map iteration is insertion order: the first entries are the oldest.
      while (items.size > maxItems) {
        const oldest = items.keys().next()
        if (oldest.done === true) break
        items.delete(oldest.value)
      }
    },
    take(max, liveMembers) {
      if (max <= 0 || items.size === 0) return []
      const limit = retransmitLimit(retransmitMult, liveMembers)
      const chosen = [...items.entries()]
        .sort(([, a], [, b]) => a.transmits - b.transmits || b.seq - a.seq)
        .slice(0, max)
      const out: MembershipUpdate[] = []
      for (const [key, item] of chosen) {
        out.push(item.update)
        item.transmits++
        if (item.transmits >= limit) items.delete(key)
      }
      return out
    },
    size: () => items.size,
  }
}
