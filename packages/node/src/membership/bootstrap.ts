/**
 * The bootstrap schedule, pure: when to contact each configured bootstrap entry.
 *
 * Every entry is contacted for as long as the node runs (Corrosion's announcer never stops
 * either):
 * - an entry whose last contact failed, or whose peer is not a live member, is retried with
 *   exponential backoff from `retryMinMs` to `retryMaxMs` (the client's `backoffDelayMs`
 *   schedule, with jitter), never giving up;
 * - an entry whose peer is a live member (or that turned out to be ourselves) is contacted
 *   again every `announceIntervalMs`, so that two groups that formed apart — a seed that
 *   started last, a partition that healed after each side declared the other down — merge.
 *
 * A contact is a dial of the entry's current addresses (host names are resolved again each
 * time) followed by a push-pull of the member tables; `connections.ts` does the I/O.
 */
import { backoffDelayMs } from '@patina/client'

export interface BootstrapTiming {
  /** First retry delay after a failed contact, ms. */
  retryMinMs: number
  /** Largest retry delay: the pace of retries that never stop, ms. */
  retryMaxMs: number
  /** Pace of contacts with an entry whose peer is a live member, ms. */
  announceIntervalMs: number
}

export interface BootstrapEntry {
  /** The configured entry (`host:port`, multiaddr, or a transport name). */
  addr: string
  /** Failed contacts in a row. */
  failures: number
  /** When the last contact ended, or null before the first. */
  lastAttemptAtMs: number | null
  /** The peer id the entry led to last time, or null. */
  peer: string | null
  /** The entry leads to this node itself (a shared config listing every node). */
  self: boolean
  /** A random number in [0, 1) drawn at the last attempt, for the jitter of the next delay. */
  jitter: number
}

export type BootstrapResult = { kind: 'ok'; peer: string } | { kind: 'self' } | { kind: 'failed' }

export function bootstrapEntries(addrs: readonly string[]): BootstrapEntry[] {
  return [...new Set(addrs)].map((addr) => ({
    addr,
    failures: 0,
    lastAttemptAtMs: null,
    peer: null,
    self: false,
    jitter: 0.5,
  }))
}

/**
 * When `e` should be contacted next. `isLive(peer)` tells whether a peer id is a live member
 * right now; `connected` whether this node holds any connection at all (when it holds none,
 * nothing waits for the slow announce pace).
 */
export function nextContactAtMs(
  e: BootstrapEntry,
  t: BootstrapTiming,
  isLive: (peer: string) => boolean,
  connected: boolean,
): number {
  if (e.lastAttemptAtMs === null) return -Infinity
  const settled = e.failures === 0 && (e.self || (e.peer !== null && isLive(e.peer)))
  if (settled && connected) return e.lastAttemptAtMs + t.announceIntervalMs * (0.9 + 0.2 * e.jitter)
  const attempt = Math.max(0, e.failures - 1)
  return (
    e.lastAttemptAtMs +
    backoffDelayMs(attempt, { baseMs: t.retryMinMs, maxMs: t.retryMaxMs, factor: 2, jitter: 0.2 }, e.jitter)
  )
}

/** The entries due at `nowMs`. */
export function dueEntries(
  entries: readonly BootstrapEntry[],
  nowMs: number,
  t: BootstrapTiming,
  isLive: (peer: string) => boolean,
  connected: boolean,
): BootstrapEntry[] {
  return entries.filter((e) => nextContactAtMs(e, t, isLive, connected) <= nowMs)
}

/** `e` after a contact that ended at `nowMs`; `random` is a number in [0, 1). */
export function afterContact(
  e: BootstrapEntry,
  result: BootstrapResult,
  nowMs: number,
  random: number,
): BootstrapEntry {
  const base = { ...e, lastAttemptAtMs: nowMs, jitter: random }
  switch (result.kind) {
    case 'ok':
      return { ...base, failures: 0, peer: result.peer, self: false }
    case 'self':
      return { ...base, failures: 0, self: true }
    case 'failed':
      return { ...base, failures: e.failures + 1 }
  }
}
