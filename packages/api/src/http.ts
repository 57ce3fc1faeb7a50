/** Response header carrying a subscription's id (Corrosion's `QUERY_ID_HEADER`). */
export const QUERY_ID_HEADER = 'corro-query-id'
/** Response header carrying the hex hash of a subscription's normalized query (Corrosion's `QUERY_HASH_HEADER`). */
export const QUERY_HASH_HEADER = 'corro-query-hash'

/**
 * Query-string parameters of the read-your-writes wait (Patina addition), accepted by
 * `/v1/queries`, `/v1/subscriptions` and `/v1/table_stats`: the request is answered only once
 * `wait_version` of `wait_actor` is applied on the answering node, or fails with
 * `PATINA_ERR_WAIT_TIMEOUT` after `wait_timeout_ms`.
 */
export const WAIT_PARAMS = {
  actor: 'wait_actor',
  version: 'wait_version',
  timeoutMs: 'wait_timeout_ms',
} as const

/** Plain-text body of a 503 answer when a route's concurrency limit is reached (as Corrosion). */
export const CONCURRENCY_LIMIT_BODY = 'max concurrency limit reached'

/**
 * Response header of `/v1/subscriptions` (Patina addition): how the subscription is kept up to
 * date, `incremental` or `rerun` (the whole query runs again after a relevant commit).
 */
export const SUBSCRIPTION_MAINTENANCE_HEADER = 'patina-subscription-maintenance'
