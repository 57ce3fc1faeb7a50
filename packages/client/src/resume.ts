/**
 * A raw subscription that survives dropped connections to one worker: after a drop it
 * re-attaches to the same subscription with `from=<last change id>`, so no change is lost or
 * repeated; when the worker no longer knows the subscription (restarted, or the change id is too
 * old) it subscribes again and the new snapshot follows. Gaps in change ids are fatal
 * (`PATINA_ERR_MISSED_CHANGE`), never papered over. This is what `patina subscribe` prints; a
 * materialized view that also fails over between workers is `client.watch` (`live.ts`).
 */
import type { JsonStatement, QueryEvent } from '@patina/api'
import { BACKOFF_DEFAULTS, backoffDelayMs, type BackoffOptions } from './backoff.js'

/** The stream {@link resumingSubscription} reads; `SubscriptionStream` fits. */
export interface ResumableStream extends AsyncIterable<QueryEvent> {
  readonly id: string
  readonly lastChangeId: number | null
  close(): void
}

/** The two calls {@link resumingSubscription} makes; `PatinaClient` fits. */
export interface ResumableApi {
  subscribe(statement: JsonStatement, opts?: { from?: number; skipRows?: boolean }): Promise<ResumableStream>
  subscription(id: string, opts?: { from?: number }): Promise<ResumableStream>
}

export interface ResumeOptions {
  /** Start after this change id of an existing subscription of the same statement. */
  from?: number
  /** Changes only: no `columns`/`row`/`eoq`. */
  skipRows?: boolean
  /** Told about drops and resumptions (the CLI writes these to stderr). */
  onNotice?: (message: string) => void
  /** Stops the loop. */
  signal?: AbortSignal
  /** Reconnection backoff. Default {@link BACKOFF_DEFAULTS}. */
  backoff?: Partial<BackoffOptions>
  /** Random numbers in [0, 1) for the backoff jitter (tests). Default `Math.random`. */
  random?: () => number
  /** Waits between attempts (tests). */
  sleep?: (ms: number) => Promise<void>
}

interface ErrorLike {
  code?: unknown
  httpStatus?: unknown
  serverCode?: unknown
}

/** The worker no longer has this subscription (or not that far back): subscribe afresh. Pure. */
export function isGoneError(e: unknown): boolean {
  const err = (e ?? {}) as ErrorLike
  return (
    err.httpStatus === 404 ||
    err.httpStatus === 410 ||
    err.serverCode === 'PATINA_ERR_SUBSCRIPTION_NOT_FOUND' ||
    err.serverCode === 'PATINA_ERR_CHANGE_ID_TOO_OLD'
  )
}

/** Errors that must stop the loop: a gap in change ids, or a statement the server refuses. Pure. */
export function isFatalSubscriptionError(e: unknown): boolean {
  const err = (e ?? {}) as ErrorLike
  if (err.code === 'PATINA_ERR_MISSED_CHANGE') return true
  return (
    typeof err.httpStatus === 'number' && err.httpStatus >= 400 && err.httpStatus < 500 && !isGoneError(e)
  )
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** Yields the subscription's events across reconnections until `signal` aborts or a fatal error. */
export async function* resumingSubscription(
  api: ResumableApi,
  statement: JsonStatement,
  opts: ResumeOptions = {},
): AsyncGenerator<QueryEvent> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const backoff: BackoffOptions = { ...BACKOFF_DEFAULTS, ...opts.backoff }
  const random = opts.random ?? Math.random
  const notice = opts.onNotice ?? (() => {})
  const first: { from?: number; skipRows?: boolean } = {}
  if (opts.from !== undefined) first.from = opts.from
  if (opts.skipRows !== undefined) first.skipRows = opts.skipRows
  let sub = await api.subscribe(statement, first)
  let attempt = 0
  for (;;) {
    try {
      for await (const ev of sub) {
        attempt = 0
        yield ev
        if (opts.signal?.aborted) return
      }
      notice(
        `subscription ${sub.id} ended by the server; resuming from change ${sub.lastChangeId ?? 'start'}`,
      )
    } catch (e) {
      if (opts.signal?.aborted) return
      if (isFatalSubscriptionError(e)) throw e
      notice(
        `subscription ${sub.id} dropped (${message(e)}); resuming from change ${sub.lastChangeId ?? 'start'}`,
      )
    } finally {
      sub.close()
    }
    // Re-attach, retrying while the worker is unreachable.
    for (;;) {
      if (opts.signal?.aborted) return
      await sleep(backoffDelayMs(attempt++, backoff, random()))
      if (opts.signal?.aborted) return
      try {
        const from = sub.lastChangeId
        sub = await api.subscription(sub.id, from === null ? {} : { from })
        notice(`resumed subscription ${sub.id}`)
        break
      } catch (e) {
        if (isGoneError(e)) {
          try {
            sub = await api.subscribe(
              statement,
              opts.skipRows === undefined ? {} : { skipRows: opts.skipRows },
            )
            notice(
              `subscription was gone on the worker; subscribed again as ${sub.id} (a new snapshot follows)`,
            )
            break
          } catch (e2) {
            if (isFatalSubscriptionError(e2)) throw e2
            notice(`subscribe failed (${message(e2)}); retrying`)
          }
        } else if (isFatalSubscriptionError(e)) throw e
        else notice(`resume failed (${message(e)}); retrying`)
      }
    }
  }
}
