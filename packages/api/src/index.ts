/**
 * @packageDocumentation
 *
 * The wire contract of Patina: the JSON shapes of the Corrosion-compatible HTTP
 * API, the NDJSON event types, and the stable error codes. No runtime
 * dependencies, so an edge client can depend on it without building SQLite.
 *
 * @example
 * ```ts
 * import { isChange, type QueryEvent } from '@patina/api'
 * const ev: QueryEvent = JSON.parse(line)
 * if (isChange(ev)) console.log(ev.change[3])
 * ```
 */
export type { SqlValue, JsonSqlValue, JsonParam } from './values.js'
export type { JsonStatement, WaitFor } from './statements.js'
export type { QueryEvent, NotifyEvent, RowId, ChangeId, ChangeType } from './events.js'
export { isColumns, isRow, isEoq, isChange, isError } from './events.js'
export type {
  ExecResult,
  ExecResponse,
  TableStatsRequest,
  TableStatsResponse,
  HealthResponse,
  ActorHeadInfo,
  MemberInfo,
  MemberState,
  MemberRole,
  MembersResponse,
  ErrorBody,
} from './responses.js'
export { ERROR_CODES, PatinaError, isErrorCode } from './error-codes.js'
export type { ErrorCode } from './error-codes.js'
export {
  QUERY_ID_HEADER,
  QUERY_HASH_HEADER,
  SUBSCRIPTION_MAINTENANCE_HEADER,
  WAIT_PARAMS,
  CONCURRENCY_LIMIT_BODY,
} from './http.js'
