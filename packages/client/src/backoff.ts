/** Reconnection backoff: exponential, capped, with proportional jitter. */
export interface BackoffOptions {
  /** Delay before the first retry, in milliseconds. */
  baseMs: number
  /** Largest delay, in milliseconds. */
  maxMs: number
  /** Growth factor per attempt. */
  factor: number
  /** Jitter as a fraction of the delay, 0..1: the delay is scaled by a factor in [1 - jitter, 1 + jitter]. */
  jitter: number
}

export const BACKOFF_DEFAULTS: BackoffOptions = Object.freeze({
  baseMs: 100,
  maxMs: 5_000,
  factor: 2,
  jitter: 0.2,
})

/**
 * The delay before retry number `attempt` (0 = first retry). Pure: `random` is a number in [0, 1)
 * supplied by the caller (0.5 gives the un-jittered delay).
 *
 * `min(maxMs, baseMs * factor^attempt)`, scaled by `1 + jitter * (2 * random - 1)`, capped at
 * `maxMs` and rounded to whole milliseconds.
 */
export function backoffDelayMs(
  attempt: number,
  opts: BackoffOptions = BACKOFF_DEFAULTS,
  random = 0.5,
): number {
  const n = Math.max(0, Math.floor(attempt))
  const raw = Math.min(opts.maxMs, opts.baseMs * Math.pow(opts.factor, n))
  const jittered = raw * (1 + opts.jitter * (2 * random - 1))
  return Math.round(Math.max(0, Math.min(opts.maxMs, jittered)))
}
