/** Wall clock in milliseconds; injected so tests control time. */
export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** Logical ticks per millisecond: a timestamp is `ms * TICKS_PER_MS + counter`. */
export const TICKS_PER_MS = 1000

/**
 * Hybrid logical clock. Timestamps are numbers `ms * 1000 + counter` (safe integers
 * until the year 2255), strictly increasing per node and never behind any timestamp
 * this node has observed, so they order causally related transactions.
 */
export interface Hlc {
  /** A new timestamp for a local transaction. */
  next(): number
  /** Take a remote timestamp into account. */
  observe(ts: number): void
  /** The largest timestamp issued or observed. */
  last(): number
}

export function createHlc(clock: Clock = systemClock, maxDriftMs = 60_000): Hlc {
  let last = 0
  return {
    next() {
      const phys = Math.floor(clock.now()) * TICKS_PER_MS
      last = phys > last ? phys : last + 1
      return last
    },
    observe(ts) {
      // A remote clock far in the future must not drag ours along without bound.
      const limit = (Math.floor(clock.now()) + maxDriftMs) * TICKS_PER_MS
      if (ts > last && ts <= limit) last = ts
    },
    last: () => last,
  }
}
