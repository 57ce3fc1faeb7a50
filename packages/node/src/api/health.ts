import { PatinaError, type ActorHeadInfo, type HealthResponse } from '@patina/api'
import type { SyncState } from '@patina/core'

/** Thresholds of `GET /v1/health` (Corrosion's `HealthQuery`); unset = not checked. */
export interface HealthThresholds {
  gaps?: number
  p99_lag?: number
  max_queue?: number
  queue_size?: number
  /**
   * Patina: unhealthy when this node has heard nothing from another member for longer than
   * this many ms, or never has ("are you current?").
   */
  max_contact_ms?: number
  /** Status answered when unhealthy (default 503). */
  failure_status?: number
}

export interface HealthFacts {
  gaps: number
  /** Versions refused on apply and held back (they are among the gaps); shown when non-zero. */
  refused?: number
  members: number
  /** p99 commit lag in seconds; null when no samples exist. */
  p99LagSec: number | null
  queueSize: number
  /** No other member alive for longer than `gossip.isolation_after_ms`. */
  isolated: boolean
  /** Ms since anything was last received from another member; null if never. */
  lastContactMs: number | null
  /** Other members currently alive. */
  reachableMembers: number
  /** Per actor, the highest version known and the highest with every version below it applied. */
  heads: Record<string, ActorHeadInfo>
}

/**
 * The `heads` of `/v1/health` from the engine's sync state. Pure. `max` is the actor's head (the
 * highest version seen, even partly); `complete` is one below the lowest version that is missing
 * (a gap) or only partly received, or the head when none is: every version `1..complete` is
 * applied (or cleared) here.
 */
export function actorHeads(state: SyncState): Record<string, ActorHeadInfo> {
  const out: Record<string, ActorHeadInfo> = {}
  for (const [actor, max] of Object.entries(state.heads)) {
    if (max <= 0) continue
    let lowestMissing = max + 1
    for (const [start] of state.need[actor] ?? []) lowestMissing = Math.min(lowestMissing, start)
    for (const v of Object.keys(state.partialNeed[actor] ?? {}))
      lowestMissing = Math.min(lowestMissing, Number(v))
    out[actor] = { max, complete: Math.max(0, lowestMissing - 1) }
  }
  return out
}

/**
 * Pure decision of `GET /v1/health`, as Corrosion's `api_v1_health`: unhealthy when
 * `gaps > gaps`, or `queue_size > max_queue`, or `p99_lag > p99_lag` and (no `queue_size`
 * threshold, or `queue_size > queue_size`). Without lag samples the answer is the failure
 * status with `no p99 lag information available`. Patina adds `isolated`, `last_contact_ms`,
 * `reachable_members` and `heads` to the answer, and the `max_contact_ms` threshold: unhealthy
 * when `last_contact_ms` is null or above it.
 */
export function evaluateHealth(
  facts: HealthFacts,
  t: HealthThresholds,
): { status: number; body: HealthResponse | { error: string } } {
  const failure = t.failure_status ?? 503
  if (facts.p99LagSec === null)
    return { status: failure, body: { error: 'no p99 lag information available' } }
  const lag = facts.p99LagSec
  const unhealthy =
    (t.max_contact_ms !== undefined &&
      (facts.lastContactMs === null || facts.lastContactMs > t.max_contact_ms)) ||
    (t.gaps !== undefined && facts.gaps > t.gaps) ||
    (t.max_queue !== undefined && facts.queueSize > t.max_queue) ||
    (t.p99_lag !== undefined &&
      lag > t.p99_lag &&
      (t.queue_size === undefined || facts.queueSize > t.queue_size))
  return {
    status: unhealthy ? failure : 200,
    body: {
      response: {
        gaps: facts.gaps,
        members: facts.members,
        p99_lag: lag,
        queue_size: facts.queueSize,
        isolated: facts.isolated,
        last_contact_ms: facts.lastContactMs,
        reachable_members: facts.reachableMembers,
        heads: facts.heads,
        ...(facts.refused !== undefined && facts.refused > 0 ? { refused_versions: facts.refused } : {}),
      },
    },
  }
}

/** Parses the health thresholds from a query string; errors name the key and value. */
export function parseHealthThresholds(query: Record<string, unknown>): HealthThresholds {
  const out: HealthThresholds = {}
  const num = (key: keyof HealthThresholds, integer: boolean): void => {
    const raw = query[key]
    if (raw === undefined) return
    const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN
    if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
      throw new PatinaError(
        'PATINA_ERR_PARAM_INVALID',
        `${key} value ${JSON.stringify(raw)} must be ${integer ? 'an integer' : 'a number'} >= 0`,
      )
    }
    out[key] = n
  }
  num('gaps', true)
  num('p99_lag', false)
  num('max_queue', true)
  num('queue_size', true)
  num('max_contact_ms', true)
  num('failure_status', true)
  if (out.failure_status !== undefined && (out.failure_status < 100 || out.failure_status > 599)) {
    throw new PatinaError(
      'PATINA_ERR_PARAM_INVALID',
      `failure_status value ${out.failure_status} must be an HTTP status between 100 and 599`,
    )
  }
  return out
}
