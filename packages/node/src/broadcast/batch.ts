/**
 * Pure batching decisions for broadcast.
 *
 * Local changesets are published at once when the node has been quiet for
 * `maxBatchDelayMs` (a single write pays no batching delay); under a higher write rate
 * they are coalesced: at most one publication per `maxBatchDelayMs` window, or sooner
 * when the pending bytes reach `maxBatchBytes`.
 */

export interface BatchPolicy {
  /** Pending bytes that force a publication, bytes. */
  maxBatchBytes: number
  /** Longest a pending changeset waits while writes keep coming, ms. */
  maxBatchDelayMs: number
}

export interface BatchState {
  pendingBytes: number
  pendingCount: number
  /** When the previous batch was published (ms), or -Infinity. */
  lastFlushAtMs: number
}

/** `0` = publish now; a positive number = check again after that many ms; `null` = nothing pending. */
export function flushDelayMs(state: BatchState, nowMs: number, policy: BatchPolicy): number | null {
  if (state.pendingCount === 0) return null
  if (state.pendingBytes >= policy.maxBatchBytes) return 0
  const due = state.lastFlushAtMs + policy.maxBatchDelayMs
  return nowMs >= due ? 0 : due - nowMs
}

/**
 * Splits encoded items into groups of at most `maxBytes` (sum of item sizes) and at most
 * `maxItems`; an item larger than `maxBytes` gets a group of its own.
 */
export function packGroups(sizes: readonly number[], maxBytes: number, maxItems: number): number[][] {
  const groups: number[][] = []
  let cur: number[] = []
  let bytes = 0
  sizes.forEach((size, i) => {
    if (cur.length > 0 && (bytes + size > maxBytes || cur.length >= maxItems)) {
      groups.push(cur)
      cur = []
      bytes = 0
    }
    cur.push(i)
    bytes += size
  })
  if (cur.length > 0) groups.push(cur)
  return groups
}
