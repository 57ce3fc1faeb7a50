/**
 * How current a worker is, from its `GET /v1/health` answer. Pure: parsing and decisions only.
 *
 * A worker that answers is not necessarily current: one cut off from the rest of the cluster
 * keeps answering with its old rows. Patina workers add to Corrosion's health numbers:
 * - `isolated`: no other member has been alive for longer than the worker's isolation delay;
 * - `last_contact_ms`: milliseconds since it last received anything from another member (null if never);
 * - `reachable_members`: other members it currently considers alive;
 * - `heads`: per actor, `{ max, complete }`: the highest version of that actor it has seen, and
 *   the highest version up to which it has every version (`complete <= max`).
 *
 * The client uses the first three to rank and leave a cut-off worker and to say `stale`, and
 * `heads` to refuse moving a view voluntarily to a worker that lacks a version the view may
 * already reflect. Workers that send none of these (Corrosion, older Patina) are taken as they
 * were before: freshness unknown, never cut off, moves allowed.
 */

/** One actor's versions on a worker (the `heads` field of a Patina worker's health answer). */
export interface ActorHead {
  /** Highest version of the actor seen by the worker. */
  max: number
  /** Highest version `v` such that every version `1..v` of the actor is applied on the worker. */
  complete: number
}

/** What a health answer says about how current the worker is; null fields were not sent. */
export interface WorkerFreshness {
  isolated: boolean | null
  /** Milliseconds since the worker last heard from another member, as of its answer. */
  lastContactMs: number | null
  /** The worker sent `last_contact_ms: null`: it never heard from another member. */
  neverContacted: boolean
  reachableMembers: number | null
  /** Missing versions below the heads (Corrosion's `gaps`). */
  gaps: number | null
  heads: Record<string, ActorHead> | null
}

export const UNKNOWN_FRESHNESS: WorkerFreshness = Object.freeze({
  isolated: null,
  lastContactMs: null,
  neverContacted: false,
  reachableMembers: null,
  gaps: null,
  heads: null,
})

const count = (v: unknown): number | null =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null

/**
 * Reads the freshness fields of a health answer's `response` object. Pure. Malformed fields are
 * treated as absent (a worker's answer is input we do not trust); a malformed `heads` entry makes
 * the whole `heads` unknown rather than partly known.
 */
export function parseWorkerFreshness(response: unknown): WorkerFreshness {
  if (typeof response !== 'object' || response === null) return UNKNOWN_FRESHNESS
  const r = response as Record<string, unknown>
  let heads: Record<string, ActorHead> | null = null
  const h = r['heads']
  if (typeof h === 'object' && h !== null && !Array.isArray(h)) {
    heads = {}
    for (const [actor, v] of Object.entries(h as Record<string, unknown>)) {
      const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>
      const max = count(o['max'])
      const complete = count(o['complete'])
      if (max === null || complete === null || complete > max) {
        heads = null
        break
      }
      heads[actor] = { max, complete }
    }
  }
  return {
    isolated: typeof r['isolated'] === 'boolean' ? r['isolated'] : null,
    lastContactMs: count(r['last_contact_ms']),
    neverContacted: 'last_contact_ms' in r && r['last_contact_ms'] === null,
    reachableMembers: count(r['reachable_members']),
    gaps: count(r['gaps']),
    heads,
  }
}

/**
 * Estimated milliseconds since the worker last heard from the rest of the cluster, at `now`:
 * what it reported, plus the time since it reported it. Never less than the truth as far as the
 * client knows (the estimate keeps growing between probes, and a probe after a partition began
 * reports the time since then), so a worker cut off at `t0` is seen as cut off by `t0 + limit`.
 * Null when the worker does not report it. Pure.
 */
export function contactAgeMs(f: WorkerFreshness, reportedAt: number | null, now: number): number | null {
  if (f.lastContactMs === null || reportedAt === null) return null
  return f.lastContactMs + Math.max(0, now - reportedAt)
}

/**
 * Whether a worker is cut off from its cluster: it says it is isolated, or it has not heard from
 * another member for longer than `maxContactMs`. A worker that never heard from anyone and is not
 * isolated (a single-worker cluster) is not cut off. Pure.
 */
export function isCutOff(
  f: WorkerFreshness,
  reportedAt: number | null,
  now: number,
  maxContactMs: number,
): boolean {
  if (f.isolated === true) return true
  const age = contactAgeMs(f, reportedAt, now)
  return age !== null && age > maxContactMs
}

/**
 * Whether moving a view from `current` to `candidate` can move it backwards: `false` when the
 * candidate may lack a version that the current worker had (so that the view, fed by the current
 * worker, may reflect it), `true` when the candidate has every such version, `null` when either
 * worker does not report `heads`. Pure.
 *
 * Sound with gaps: every version the current worker may have sent is at most its `max`, and the
 * candidate holds every version up to its `complete`. So the candidate covers the current worker
 * when, for every actor, `candidate.complete >= current.max`. With `current` probed after the view
 * stopped reading from it, and `candidate` probed before its snapshot, the snapshot then holds
 * everything the view has seen.
 */
export function coversHeads(
  candidate: Record<string, ActorHead> | null,
  current: Record<string, ActorHead> | null,
): boolean | null {
  if (candidate === null || current === null) return null
  for (const [actor, h] of Object.entries(current)) {
    if ((candidate[actor]?.complete ?? 0) < h.max) return false
  }
  return true
}
