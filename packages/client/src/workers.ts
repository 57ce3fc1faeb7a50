import type { MemberInfo } from '@patina/api'
import type { WorkerFreshness } from './freshness.js'

/**
 * What the client knows about one worker.
 *
 * `state`: `unknown` (never probed), `healthy` (`GET /v1/health` answered 2xx), `unhealthy`
 * (answered, but not 2xx: usable when nothing better is), `isolated` (answers, but is cut off
 * from its cluster: it says `isolated`, or it has not heard from another member for longer than
 * `maxContactMs`; its rows may be arbitrarily old), `down` (no answer, or a subscription on it
 * failed repeatedly).
 */
export interface WorkerStatus {
  url: string
  /** `static` when configured, `discovered` when found through `/v1/cluster/members`. */
  source: 'static' | 'discovered'
  /** Position in the configuration (tie-breaker). */
  order: number
  state: 'unknown' | 'healthy' | 'unhealthy' | 'isolated' | 'down'
  /** Smoothed health-probe round-trip time in milliseconds, null until measured. */
  rttMs: number | null
  /** The worker's own p99 apply lag from its health answer, in milliseconds, when known. */
  p99LagMs: number | null
  /** How current the worker said it is in its last answer (see `freshness.ts`). */
  freshness: WorkerFreshness
  /** Wall-clock time (ms) its last answered probe was sent (ages in the answer count from there), null if none yet. */
  reportedAt: number | null
  /** Consecutive failures (probes or subscription attempts). */
  failures: number
  /** Wall-clock time (ms) of the last probe, success or not. */
  lastProbeAt: number | null
  /** Wall-clock time (ms) of the last failure. */
  lastFailureAt: number | null
}

const TIER: Record<WorkerStatus['state'], number> = {
  healthy: 0,
  unknown: 1,
  unhealthy: 2,
  isolated: 3,
  down: 4,
}

/** Lower is better: healthy, then never probed, then unhealthy, then cut off, then down. */
export function workerTier(w: WorkerStatus): number {
  return TIER[w.state]
}

/**
 * Orders workers from most to least preferred. Pure.
 *
 * By tier ({@link workerTier}); within a tier by measured RTT (unmeasured last), then by
 * configuration order. Down workers are ordered least-recently-failed first, so that when
 * everything is down, retries cycle through all of them.
 */
export function rankWorkers(workers: readonly WorkerStatus[]): WorkerStatus[] {
  return [...workers].sort((a, b) => {
    const t = workerTier(a) - workerTier(b)
    if (t !== 0) return t
    if (a.state === 'down') {
      const fa = a.lastFailureAt ?? 0
      const fb = b.lastFailureAt ?? 0
      if (fa !== fb) return fa - fb
    }
    if (a.rttMs !== null && b.rttMs !== null && a.rttMs !== b.rttMs) return a.rttMs - b.rttMs
    if (a.rttMs !== null && b.rttMs === null) return -1
    if (a.rttMs === null && b.rttMs !== null) return 1
    return a.order - b.order
  })
}

export interface SwitchPolicy {
  /** A better-tier worker always wins; within a tier the candidate must be faster by at least this many milliseconds... */
  switchMarginMs: number
  /** ...and its RTT must be at most this fraction of the current worker's RTT. */
  switchRatio: number
}

export const SWITCH_DEFAULTS: SwitchPolicy = Object.freeze({ switchMarginMs: 5, switchRatio: 0.7 })

/**
 * Whether a subscription on `current` should move to `candidate`. Pure. Hysteresis (margin and
 * ratio) keeps RTT noise from making a subscription flap between two similar workers.
 */
export function shouldSwitchWorker(
  current: WorkerStatus | undefined,
  candidate: WorkerStatus,
  policy: SwitchPolicy = SWITCH_DEFAULTS,
): boolean {
  if (current === undefined) return candidate.state !== 'down'
  if (candidate.url === current.url) return false
  if (candidate.state === 'down') return false
  const tc = workerTier(candidate)
  const tu = workerTier(current)
  if (tc !== tu) return tc < tu
  if (candidate.rttMs === null || current.rttMs === null) return false
  return (
    candidate.rttMs + policy.switchMarginMs <= current.rttMs &&
    candidate.rttMs <= current.rttMs * policy.switchRatio
  )
}

/** Exponentially weighted moving average of RTT samples. Pure. `alpha` is the weight of the new sample. */
export function smoothRtt(prev: number | null, sampleMs: number, alpha = 0.3): number {
  return prev === null ? sampleMs : prev + alpha * (sampleMs - prev)
}

/**
 * Normalises a worker address: adds `http://` when there is no scheme, and drops a trailing slash.
 * A wildcard host (`0.0.0.0`, `[::]`) is replaced by `fallbackHost` (the host we asked), since
 * nobody can connect to it.
 */
export function normalizeWorkerUrl(addr: string, fallbackHost?: string): string {
  let s = addr.trim()
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) s = `http://${s}`
  const u = new URL(s)
  if (
    fallbackHost !== undefined &&
    (u.hostname === '0.0.0.0' || u.hostname === '[::]' || u.hostname === '::')
  )
    u.hostname = fallbackHost
  return u.toString().replace(/\/$/, '')
}

/** Worker API URLs from a `/v1/cluster/members` answer: alive or suspect workers with an API address. Pure. */
export function workerUrlsFromMembers(members: readonly MemberInfo[], askedUrl: string): string[] {
  const host = new URL(askedUrl).hostname
  const out: string[] = []
  for (const m of members) {
    if (m.role !== 'worker' || m.api_addr === null) continue
    if (m.state !== 'alive' && m.state !== 'suspect') continue
    try {
      const u = normalizeWorkerUrl(m.api_addr, host)
      if (!out.includes(u)) out.push(u)
    } catch {
      // unparseable address: skip it
    }
  }
  return out
}
