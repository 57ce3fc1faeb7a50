/**
 * How fresh each query of the edge is, from its live subscription's status. Pure: the rules of
 * `stale` live here and are table-tested (`health.test.ts`).
 */
import type { LiveStatus } from '@patina/client'
import type { TemplatesHealth } from '@patina/template'

/** Why a query is stale (null when it is not). */
export type StaleReason =
  /** Not attached to a worker and following its changes (starting, reconnecting, failed, or serving a view loaded from the state file that no worker has confirmed yet). */
  | 'not_connected'
  /** Attached, but nothing heard from the worker (stream line, probe answer) for longer than `stale_after_ms`. */
  | 'worker_silent'
  /** The worker is cut off from its cluster: it says it is isolated, or has heard from no other member for longer than `max_contact_ms` (or `stale_after_ms`). */
  | 'worker_cut_off'

/** One query's freshness, as `/v1/health` reports it. */
export interface EdgeQueryHealth {
  /** A worker's snapshot has been applied since the edge started. */
  synced: boolean
  /** Rows are being served (synced, or loaded from the state file). */
  has_state: boolean
  /** Attached to a worker and following its changes. */
  connected: boolean
  /** The rows served may be older than `stale_after_ms` allows (see `stale_reason`). */
  stale: boolean
  stale_reason: StaleReason | null
  worker: string | null
  /** Wall-clock ms of the last word from the worker, or null. */
  last_heard_at: number | null
  /** Milliseconds since then (null if never). */
  lag_ms: number | null
  /** Estimated ms since the worker last heard from another member of its cluster (null when it does not say). */
  worker_contact_age_ms: number | null
  /** The worker is cut off from its cluster. */
  worker_cut_off: boolean
  rows: number
  change_id: number | null
  state: LiveStatus['state']
  last_error: string | null
  /** The hot standby on another worker (null: none): a failover to its worker needs no snapshot once it is `ready`. */
  standby: {
    worker: string
    ready: boolean
    change_id: number | null
    rows: number
    differing: number
  } | null
}

export interface EdgeHealth {
  /** `unsynced` (some query has nothing to serve: HTTP 503), `stale` or `ok` (HTTP 200). */
  status: 'ok' | 'stale' | 'unsynced'
  stale: boolean
  queries: Record<string, EdgeQueryHealth>
  /** The `[[templates]]`, when there are any (they do not change `status`: lookups do not depend on them). */
  templates?: TemplatesHealth
}

/** The health of a query that has no subscription yet (the edge is not started). */
export const NOT_STARTED: EdgeQueryHealth = Object.freeze({
  synced: false,
  has_state: false,
  connected: false,
  stale: true,
  stale_reason: 'not_connected',
  worker: null,
  last_heard_at: null,
  lag_ms: null,
  worker_contact_age_ms: null,
  worker_cut_off: false,
  rows: 0,
  change_id: null,
  state: 'connecting',
  last_error: null,
  standby: null,
})

/**
 * A query's health from its subscription's status. Pure. Stale when not connected, when the
 * worker has been silent for more than `staleAfterMs`, or when the worker is cut off from its
 * cluster (its own word, or no contact with another member for longer than the client's
 * `maxContactMs` or than `staleAfterMs`): an edge never calls fresh a view whose worker cannot
 * know that it is current.
 */
export function queryHealth(s: LiveStatus | null, staleAfterMs: number): EdgeQueryHealth {
  if (s === null) return NOT_STARTED
  const connected = s.state === 'live'
  const cutOff = s.workerCutOff || (s.workerContactAgeMs !== null && s.workerContactAgeMs > staleAfterMs)
  const reason: StaleReason | null = !connected
    ? 'not_connected'
    : s.lagMs === null || s.lagMs > staleAfterMs
      ? 'worker_silent'
      : cutOff
        ? 'worker_cut_off'
        : null
  return {
    synced: s.synced,
    has_state: s.hasState,
    connected,
    stale: reason !== null,
    stale_reason: reason,
    worker: s.worker,
    last_heard_at: s.lastHeardAt,
    lag_ms: s.lagMs,
    worker_contact_age_ms: s.workerContactAgeMs,
    worker_cut_off: cutOff,
    rows: s.rows,
    change_id: s.changeId,
    state: s.state,
    last_error: s.lastError,
    standby:
      s.standby === null
        ? null
        : {
            worker: s.standby.worker,
            ready: s.standby.ready,
            change_id: s.standby.changeId,
            rows: s.standby.rows,
            differing: s.standby.differing,
          },
  }
}

/** The edge's health from its queries'. Pure. */
export function edgeHealth(queries: Record<string, EdgeQueryHealth>): EdgeHealth {
  const all = Object.values(queries)
  const stale = all.some((q) => q.stale)
  return {
    status: all.some((q) => !q.has_state) ? 'unsynced' : stale ? 'stale' : 'ok',
    stale,
    queries,
  }
}
