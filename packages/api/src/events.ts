import type { JsonSqlValue } from './values.js'

/** Sequential row id in a query response, or a subscription's stable `__corro_rowid`. */
export type RowId = number
/** Per-subscription, contiguous, increasing change counter. */
export type ChangeId = number
export type ChangeType = 'insert' | 'update' | 'delete'

/** One NDJSON line of `/v1/queries` and `/v1/subscriptions` (Corrosion's `QueryEvent`). */
export type QueryEvent =
  | { columns: string[] }
  | { row: [RowId, JsonSqlValue[]] }
  | { eoq: { time: number; change_id?: ChangeId } }
  | { change: [ChangeType, RowId, JsonSqlValue[], ChangeId] }
  | { error: string }

/** One NDJSON line of `/v1/updates/:table` (Corrosion's `NotifyEvent`). */
export type NotifyEvent = { notify: ['update' | 'delete', JsonSqlValue[]] } | { error: string }

export function isColumns(e: QueryEvent): e is { columns: string[] } {
  return 'columns' in e
}
export function isRow(e: QueryEvent): e is { row: [RowId, JsonSqlValue[]] } {
  return 'row' in e
}
export function isEoq(e: QueryEvent): e is { eoq: { time: number; change_id?: ChangeId } } {
  return 'eoq' in e
}
export function isChange(e: QueryEvent): e is { change: [ChangeType, RowId, JsonSqlValue[], ChangeId] } {
  return 'change' in e
}
export function isError(e: QueryEvent | NotifyEvent): e is { error: string } {
  return 'error' in e
}
