/**
 * Suspicion timing (memberlist `suspicion.go`), as pure functions of plain numbers.
 *
 * A suspect member is declared down after a timeout that starts at `maxMs` and shrinks
 * towards `minMs` as independent confirmations arrive (other members suspecting it too):
 * with `k` expected confirmations and `c` received,
 *
 *     timeout = max(minMs, maxMs - (log(c + 1) / log(k + 1)) * (maxMs - minMs))
 *
 * so a member that many others cannot reach goes down fast, while a single node with a
 * bad link does not take a healthy member down quickly.
 */

/**
 * The base suspicion timeout for a cluster of `n` members:
 * `suspicionMult * max(1, log10(n)) * probeIntervalMs`, in milliseconds.
 */
export function suspicionMinMs(n: number, suspicionMult: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)))
  return Math.floor(suspicionMult * nodeScale * probeIntervalMs)
}

/** The number of confirmations that brings the timeout down to its minimum: `suspicionMult - 2`, at most `n - 2`, at least 0. */
export function expectedConfirmations(n: number, suspicionMult: number): number {
  return Math.max(0, Math.min(suspicionMult - 2, n - 2))
}

/**
 * Milliseconds left before a suspect is declared down, given `confirmations` received out
 * of `k` expected, `elapsedMs` since the suspicion started and the `[minMs, maxMs]` bounds.
 * Never negative.
 */
export function remainingSuspicionMs(
  confirmations: number,
  k: number,
  elapsedMs: number,
  minMs: number,
  maxMs: number,
): number {
  const frac = k < 1 ? 1 : Math.min(1, Math.log(confirmations + 1) / Math.log(k + 1))
  const raw = maxMs - frac * (maxMs - minMs)
  const timeout = Math.max(minMs, Math.floor(raw))
  return Math.max(0, timeout - elapsedMs)
}

/** How many times a membership update is piggybacked: `ceil(retransmitMult * log10(n + 1))`, at least 1. */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return Math.max(1, Math.ceil(retransmitMult * Math.log10(n + 1)))
}
