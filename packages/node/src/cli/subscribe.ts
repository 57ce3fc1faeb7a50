/**
 * `patina subscribe`: a subscription that survives dropped connections. After a drop it
 * re-attaches to the same subscription with `from=<last change id>`, so no change is lost or
 * repeated; when the worker no longer knows the subscription (restarted, or the change id is
 * too old) it subscribes again and the new snapshot follows. Gaps in change ids are fatal
 * (`PATINA_ERR_MISSED_CHANGE`), never papered over.
 */
import type { JsonStatement, QueryEvent } from '@patina/api'
import type { CliApi, CliSubscriptionStream } from './api.js'

export interface ResumeOptions {
  from?: number
  skipRows?: boolean
  /** Told about drops and resumptions (the CLI writes these to stderr). */
  onNotice?: (message: string) => void
  /** Stops the loop. */
  signal?: AbortSignal
  /** Waits between attempts; injected for tests. */
  sleep?: (ms: number) => Promise<void>
  /** Retry delay for the n-th consecutive failed attempt (0-based), in milliseconds. */
  backoffMs?: (attempt: number) => number
}

/** 100 ms, 200 ms, 400 ms ... capped at 5 s. */
export function defaultBackoffMs(attempt: number): number {
  return Math.min(5_000, 100 * 2 ** attempt)
}

interface ErrorLike {
  code?: unknown
  httpStatus?: unknown
  serverCode?: unknown
  message?: unknown
}

/** The worker no longer has this subscription (or not that far back): subscribe afresh. */
export function isGoneError(e: unknown): boolean {
  const err = (e ?? {}) as ErrorLike
  return (
    err.httpStatus === 404 ||
    err.httpStatus === 410 ||
    err.serverCode === 'PATINA_ERR_SUBSCRIPTION_NOT_FOUND' ||
    err.serverCode === 'PATINA_ERR_CHANGE_ID_TOO_OLD'
  )
}

/** Errors that must stop the loop: a gap in change ids, or a statement the server refuses. */
export function isFatalError(e: unknown): boolean {
  const err = (e ?? {}) as ErrorLike
  if (err.code === 'PATINA_ERR_MISSED_CHANGE') return true
  return (
    typeof err.httpStatus === 'number' && err.httpStatus >= 400 && err.httpStatus < 500 && !isGoneError(e)
  )
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** Yields the subscription's events across reconnections until `signal` aborts or a fatal error. */
export async function* resumingSubscription(
  api: CliApi,
  statement: JsonStatement,
  opts: ResumeOptions = {},
): AsyncGenerator<QueryEvent> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const backoff = opts.backoffMs ?? defaultBackoffMs
  const notice = opts.onNotice ?? (() => {})
  const first: { from?: number; skipRows?: boolean } = {}
  if (opts.from !== undefined) first.from = opts.from
  if (opts.skipRows !== undefined) first.skipRows = opts.skipRows
  let sub: CliSubscriptionStream = await api.subscribe(statement, first)
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
      if (isFatalError(e)) throw e
      notice(
        `subscription ${sub.id} dropped (${message(e)}); resuming from change ${sub.lastChangeId ?? 'start'}`,
      )
    } finally {
      sub.close()
    }
    // Re-attach, retrying while the worker is unreachable.
    for (;;) {
      if (opts.signal?.aborted) return
      await sleep(backoff(attempt++))
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
            if (isFatalError(e2)) throw e2
            notice(`subscribe failed (${message(e2)}); retrying`)
          }
        } else if (isFatalError(e)) throw e
        else notice(`resume failed (${message(e)}); retrying`)
      }
    }
  }
}
