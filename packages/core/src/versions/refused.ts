import { PatinaError } from '@patina/api'
import type { ActorId, RefusedVersion } from '../types.js'

/**
 * Versions this node refused to apply, so that no remote changeset can keep it retrying the
 * same failure forever. A version is refused when applying it fails for a reason the version
 * itself carries (a constraint its rows break here, a table or column this node's schema lacks,
 * an invalid key): it stays a gap in the books (the node does not have it, `/v1/health` counts
 * it), and it is neither requested from peers nor applied when it arrives until its retry time,
 * which backs off from one minute to an hour. A schema change retries every refused version at
 * once; so does a restart (the registry lives in memory). Failures of the node itself (disk
 * full, I/O, busy, interrupted) are not refusals: the whole batch fails and is retried.
 */

/** First retry after this long (ms), doubling per failed attempt up to {@link REFUSAL_MAX_RETRY_MS}. */
export const REFUSAL_FIRST_RETRY_MS = 60_000
export const REFUSAL_MAX_RETRY_MS = 3_600_000

/** Delay before retrying a version that failed `attempts` times (pure). */
export function refusalRetryDelayMs(attempts: number): number {
  const n = Math.max(1, attempts)
  return Math.min(REFUSAL_MAX_RETRY_MS, REFUSAL_FIRST_RETRY_MS * 2 ** Math.min(n - 1, 30))
}

/** SQLite result codes that say something about this node, not about the version being applied. */
const ENVIRONMENTAL =
  /^SQLITE_(BUSY|LOCKED|IOERR|FULL|NOMEM|CORRUPT|READONLY|CANTOPEN|INTERRUPT|NOTADB|PROTOCOL|AUTH|PERM|ABORT)/

/**
 * Whether an error thrown while applying one version is a refusal of that version (returns its
 * code and reason) or a failure of the node that must fail the whole batch (returns null).
 */
export function refusalOf(err: unknown): { code: string; reason: string } | null {
  // A driver error may arrive wrapped in a PatinaError; SQLite's own code is the one that tells.
  const cause = err instanceof PatinaError && err.cause !== undefined ? err.cause : err
  const code =
    typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string'
      ? cause.code
      : 'PATINA_ERR_INTERNAL'
  if (ENVIRONMENTAL.test(code)) return null
  return { code, reason: err instanceof Error ? err.message : String(err) }
}

interface Entry extends Omit<RefusedVersion, 'actorId'> {
  site: number
}

export class RefusedVersions {
  private readonly bySite = new Map<number, Map<number, Entry>>()

  /** Whether `version` of `site` is refused (due for a retry or not). */
  has(site: number, version: number): boolean {
    return this.bySite.get(site)?.has(version) ?? false
  }

  /** Whether `version` of `site` is refused and not yet due for a retry at `nowMs`. */
  isHeld(site: number, version: number, nowMs: number): boolean {
    const e = this.bySite.get(site)?.get(version)
    return e !== undefined && e.retryAtMs > nowMs
  }

  /** Records a failed attempt; `first` is true when this version was not refused before. */
  record(site: number, version: number, code: string, reason: string, nowMs: number): { first: boolean } {
    let m = this.bySite.get(site)
    if (m === undefined) this.bySite.set(site, (m = new Map()))
    const prev = m.get(version)
    const attempts = (prev?.attempts ?? 0) + 1
    m.set(version, {
      site,
      version,
      code,
      reason,
      attempts,
      firstAtMs: prev?.firstAtMs ?? nowMs,
      lastAtMs: nowMs,
      retryAtMs: nowMs + refusalRetryDelayMs(attempts),
    })
    return { first: prev === undefined }
  }

  /** Forgets versions `a..b` of `site` (applied or cleared since). */
  clear(site: number, a: number, b = a): void {
    const m = this.bySite.get(site)
    if (m === undefined) return
    for (const v of [...m.keys()]) if (v >= a && v <= b) m.delete(v)
    if (m.size === 0) this.bySite.delete(site)
  }

  /** Makes every refused version due now (the schema changed: they may apply). */
  retryAll(): void {
    for (const m of this.bySite.values()) for (const e of m.values()) e.retryAtMs = 0
  }

  /** Refused versions of `site` not yet due at `nowMs`. */
  held(site: number, nowMs: number): number[] {
    const m = this.bySite.get(site)
    if (m === undefined) return []
    return [...m.values()].filter((e) => e.retryAtMs > nowMs).map((e) => e.version)
  }

  get size(): number {
    let n = 0
    for (const m of this.bySite.values()) n += m.size
    return n
  }

  /** Every refused version, with the actor id of its site. */
  list(actorOf: (site: number) => ActorId | undefined): RefusedVersion[] {
    const out: RefusedVersion[] = []
    for (const m of this.bySite.values()) {
      for (const { site, ...e } of m.values()) out.push({ actorId: actorOf(site) ?? '', ...e })
    }
    return out.sort((x, y) =>
      x.actorId < y.actorId ? -1 : x.actorId > y.actorId ? 1 : x.version - y.version,
    )
  }
}
