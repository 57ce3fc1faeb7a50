/**
 * Isolation, pure: how current this node's view of the cluster is.
 *
 * - `lastContactMs`: time since this node last received anything from another member (a
 *   probe answer, gossip on any topic, a push-pull, a sync stream), or null if never.
 * - `reachableMembers`: other members currently alive in our view.
 * - `isolated`: the node expects peers and has had no other member alive for longer than
 *   `isolationAfterMs`. A node "expects peers" when it has bootstrap entries or has ever known
 *   another member; a node configured alone (no bootstrap, nobody ever met) is a one-node
 *   cluster, not an isolated one.
 */

export interface ContactState {
  /** When the membership started, ms. */
  startedAtMs: number
  lastContactAtMs: number | null
  /** Since when no other member has been alive (the start counts as alone), or null while one is. */
  aloneSinceMs: number | null
  expectsPeers: boolean
}

export interface IsolationStatus {
  isolated: boolean
  lastContactMs: number | null
  reachableMembers: number
}

export function initialContact(nowMs: number, expectsPeers: boolean): ContactState {
  return { startedAtMs: nowMs, lastContactAtMs: null, aloneSinceMs: nowMs, expectsPeers }
}

/** The state after counting `reachable` other alive members at `nowMs` (and, when `known`, that peers exist). */
export function withReachable(
  s: ContactState,
  reachable: number,
  nowMs: number,
  known: boolean,
): ContactState {
  return {
    ...s,
    expectsPeers: s.expectsPeers || known,
    aloneSinceMs: reachable > 0 ? null : (s.aloneSinceMs ?? nowMs),
  }
}

/** The state after receiving something from another member at `nowMs`. */
export function withContact(s: ContactState, nowMs: number): ContactState {
  return { ...s, lastContactAtMs: nowMs, expectsPeers: true }
}

export function isolationStatus(
  s: ContactState,
  nowMs: number,
  reachable: number,
  isolationAfterMs: number,
): IsolationStatus {
  const alone = reachable === 0 && s.aloneSinceMs !== null
  return {
    isolated: s.expectsPeers && alone && nowMs - (s.aloneSinceMs as number) > isolationAfterMs,
    lastContactMs: s.lastContactAtMs === null ? null : Math.max(0, nowMs - s.lastContactAtMs),
    reachableMembers: reachable,
  }
}

export type IsolationLog = 'isolated' | 'still-isolated' | 'rejoined' | null

/**
 * Which isolation log line to write now: once on entering isolation, then every `repeatMs`
 * while it lasts, and once on leaving it.
 */
export function isolationLog(
  wasIsolated: boolean,
  isolated: boolean,
  lastLogAtMs: number | null,
  nowMs: number,
  repeatMs: number,
): IsolationLog {
  if (isolated && !wasIsolated) return 'isolated'
  if (!isolated && wasIsolated) return 'rejoined'
  if (isolated && lastLogAtMs !== null && nowMs - lastLogAtMs >= repeatMs) return 'still-isolated'
  return null
}
