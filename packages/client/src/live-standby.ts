/**
 * A warm standby for a live subscription: the same subscription kept open on the next worker
 * in rank, so that a failover there finds it built. A worker builds a new subscription by
 * running its query and storing every row (about a second for 100,000 rows on an idle worker,
 * far more under load); an existing one (same SQL and parameters: the worker shares it) answers
 * its snapshot from memory. The standby is a `POST /v1/subscriptions?skip_rows=true` whose
 * stream is closed at once, repeated every `refreshMs` so that the worker does not collect it as
 * idle. It costs the standby worker what any subscriber costs; the edge holds nothing for it.
 */
import type { JsonStatement } from '@patina/api'
import type { WorkerPool } from './pool.js'
import type { ClientLogger, PatinaClient } from './types.js'
import type { WorkerStatus } from './workers.js'

/** The last standby made: where and when. */
export interface StandbyMark {
  url: string
  at: number
}

/**
 * Where to (re)make the standby now, or null. Pure. The best usable worker other than `current`
 * that is not cut off, when it differs from the last standby, or when the last one is older than
 * `refreshMs`.
 */
export function standbyTarget(
  ranked: readonly WorkerStatus[],
  current: string | null,
  last: StandbyMark | null,
  now: number,
  refreshMs: number,
): string | null {
  if (current === null) return null
  const next = ranked.find((w) => w.url !== current && w.state !== 'down' && w.state !== 'isolated')
  if (next === undefined) return null
  if (last !== null && last.url === next.url && now - last.at < refreshMs) return null
  return next.url
}

export interface Standby {
  /** After a probe round: make or refresh the standby when due. `current`: the worker the view follows. */
  update(current: string | null): void
  close(): void
}

export function createStandby(
  deps: { client: PatinaClient; pool: WorkerPool; now: () => number; log: ClientLogger },
  statement: JsonStatement,
  refreshMs: number,
): Standby {
  let last: StandbyMark | null = null
  let inFlight: AbortController | null = null
  let closed = false
  return {
    update(current) {
      if (closed || inFlight !== null) return
      const url = standbyTarget(deps.pool.list(), current, last, deps.now(), refreshMs)
      if (url === null) return
      const ac = new AbortController()
      inFlight = ac
      last = { url, at: deps.now() }
      // The worker answers once the subscription exists: building it may take long under load.
      deps.client
        .subscribe(statement, { worker: url, skipRows: true, signal: ac.signal, timeoutMs: 10 * refreshMs })
        .then((stream) => stream.close())
        .catch((err: unknown) => {
          if (!closed) deps.log.debug({ worker: url, err: String(err) }, 'standby subscription failed')
          last = null
        })
        .finally(() => {
          if (inFlight === ac) inFlight = null
        })
    },
    close() {
      closed = true
      inFlight?.abort()
    },
  }
}
