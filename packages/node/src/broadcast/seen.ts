/**
 * A bounded set of recently seen changeset chunks, keyed by actor + version + seq range
 * (or actor + cleared-version range), with least-recently-inserted eviction.
 * Used to drop gossip duplicates before they reach the apply queue.
 */
import type { Changeset } from '@patina/core'

export function changesetKey(cs: Changeset): string {
  return cs.kind === 'full'
    ? `${cs.actorId}|${cs.version}|${cs.seqStart}-${cs.seqEnd}`
    : `${cs.actorId}|e|${cs.versions[0]}-${cs.versions[1]}`
}

export interface SeenCache {
  /** Records `key`; returns false when it was already there. */
  add(key: string): boolean
  has(key: string): boolean
  delete(key: string): void
  readonly size: number
}

export function createSeenCache(maxEntries: number): SeenCache {
  const set = new Set<string>()
  return {
    add(key) {
      if (set.has(key)) return false
      set.add(key)
      if (set.size > maxEntries) {
        const oldest = set.values().next()
        if (oldest.done !== true) set.delete(oldest.value)
      }
      return true
    },
    has: (key) => set.has(key),
    delete: (key) => void set.delete(key),
    get size() {
      return set.size
    },
  }
}
