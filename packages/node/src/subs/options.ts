export interface SubscriptionHubOptions {
  /** Changes kept per subscription for `from` resumes, by count. Corrosion keeps 500. */
  retainChanges: number
  /** Changes older than this are dropped, in milliseconds. */
  retainMs: number
  /** A subscription without listeners for this long is deleted (Corrosion: 10 min), in milliseconds. */
  idleMs: number
  /** Period of the idle collection and change-log purge, in milliseconds. */
  gcIntervalMs: number
  /** Most primary keys bound into one re-evaluation query. */
  maxKeysPerQuery: number
  /** Changes read from the store per page when replaying `from`. */
  replayPageSize: number
  /**
   * Most rows a re-run subscription may have: a query that is not maintained incrementally
   * is refused when its result is larger, and ends with an `error` event when it grows larger.
   */
  rerunMaxRows: number
  /** Longest one re-run may take, in milliseconds (refused, or ended, beyond it). */
  rerunMaxMs: number
  /**
   * Deadline of every subscription statement (snapshot, re-run, maintenance), in milliseconds:
   * SQLite stops it there and the subscription ends with an `error` event. They run on the main
   * thread, so the agent sets it to `api.limits.main_thread_max_ms`.
   */
  statementMaxMs: number
  /** Longest SQL text of a subscription in UTF-8 bytes; refused before planning beyond it. */
  sqlMaxBytes: number
  /**
   * Largest share of time the re-runs of one subscription may take: after a re-run of `d` ms
   * the next one waits at least `d × (1 / share − 1)` ms (changes in between are coalesced).
   */
  rerunMaxShare: number
}

export const DEFAULT_SUBSCRIPTION_HUB_OPTIONS: Readonly<SubscriptionHubOptions> = Object.freeze({
  retainChanges: 100_000,
  retainMs: 24 * 60 * 60 * 1000,
  idleMs: 10 * 60 * 1000,
  gcIntervalMs: 60 * 1000,
  maxKeysPerQuery: 256,
  replayPageSize: 1000,
  rerunMaxRows: 10_000,
  rerunMaxMs: 1_000,
  statementMaxMs: 400,
  sqlMaxBytes: 65_536,
  rerunMaxShare: 0.25,
})
