import { PatinaError } from '@patina/api'
import type { ChangeId, ErrorCode } from '@patina/api'

/** What a client error knows about the request that failed. Every field is optional. */
export interface ClientErrorDetails {
  /** HTTP status the server answered with (absent for network errors and timeouts). */
  httpStatus?: number
  /** The server's own error message (`{"error": "..."}` body, a transaction result error, or an NDJSON `error` event). */
  serverMessage?: string
  /** The server's stable error code when it sent one (`ErrorBody.code`, a Patina addition). */
  serverCode?: string
  /** The URL of the request. */
  url?: string
  /** MissedChange: the change id the client expected next. */
  expected?: ChangeId
  /** MissedChange: the change id the server sent instead. */
  got?: ChangeId
  /** The cause (network error, parse error, abort reason). */
  cause?: unknown
}

/**
 * The error every `@patina/client` function throws (apart from a caller's own abort, which
 * rethrows the signal's reason, as `fetch` does).
 *
 * `code` is one of `PATINA_ERR_HTTP` (the server answered with an error status or an `error`
 * event, or the connection failed), `PATINA_ERR_NDJSON` (malformed or oversized stream line),
 * `PATINA_ERR_TIMEOUT`, `PATINA_ERR_MISSED_CHANGE` (a gap in a subscription's change ids),
 * `PATINA_ERR_NO_WORKER`, `PATINA_ERR_SLOW_CONSUMER` (an iterator fell too far behind),
 * `PATINA_ERR_CONFIG_INVALID` / `PATINA_ERR_PARAM_INVALID` (bad options) or `PATINA_ERR_CLOSED`.
 */
export class PatinaClientError extends PatinaError {
  readonly httpStatus: number | undefined
  readonly serverMessage: string | undefined
  readonly serverCode: string | undefined
  readonly url: string | undefined
  readonly expected: ChangeId | undefined
  readonly got: ChangeId | undefined
  constructor(code: ErrorCode, message: string, details: ClientErrorDetails = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'PatinaClientError'
    this.httpStatus = details.httpStatus
    this.serverMessage = details.serverMessage
    this.serverCode = details.serverCode
    this.url = details.url
    this.expected = details.expected
    this.got = details.got
  }
}

export function isPatinaClientError(err: unknown, code?: ErrorCode): err is PatinaClientError {
  return err instanceof PatinaClientError && (code === undefined || err.code === code)
}

/** The MissedChange condition of Corrosion's `SubscriptionStream`: the local view can no longer be trusted. */
export function missedChangeError(expected: ChangeId, got: ChangeId, url?: string): PatinaClientError {
  return new PatinaClientError(
    'PATINA_ERR_MISSED_CHANGE',
    `missed a change (expected change_id ${expected}, got ${got}), inconsistent state`,
    url === undefined ? { expected, got } : { expected, got, url },
  )
}
