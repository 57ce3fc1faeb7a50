import type { SqlValue } from '@patina/api'
import { decodeKey, encodeKey, type QueryPlan, type SchemaModel, type Statement } from '@patina/core'
import { createSubRows, type StoredEntry, type SubRows } from './rows.js'
import type { EventSink } from './sink.js'

/** What the API shows of a subscription. */
export interface SubscriptionInfo {
  id: string
  hash: string
  sql: string
  columns: string[]
  lastChangeId: number
  rowCount: number
  listeners: number
  /** `incremental`, or `rerun` (the whole query runs again after a relevant commit). */
  maintenance: QueryPlan['maintenance']
  /** Why the query is re-run rather than maintained incrementally, or null. */
  rerunReason: string | null
  /** Why the subscription is not maintained any more (until a subscriber revives it), or null. */
  failed: string | null
}

/** The live state of one subscription. */
export interface Sub {
  id: string
  hash: string
  /** The statement as the client gave it (re-planned after a schema change). */
  given: Statement
  plan: QueryPlan
  /** The schema `plan` was made for. */
  schema: SchemaModel
  /** Parameters as the plan binds them (named). */
  params: Record<string, SqlValue> | undefined
  columns: string[]
  rows: SubRows
  lastChangeId: number
  nextRowid: number
  listeners: Set<EventSink>
  idleSinceMs: number | null
  /** Incremental plans, per FROM table: changed primary keys waiting for maintenance. */
  pending: Map<string, SqlValue[]>[]
  /** Whether a commit touched what the query reads since the last maintenance. */
  dirty: boolean
  /** Why maintenance stopped, or null while it is maintained. */
  failed: string | null
  /** Re-run plans: the scheduled path leaves it alone until then (ms, the hub's clock). */
  rerunNotBeforeMs: number
}

export function newSub(
  init: Pick<Sub, 'id' | 'hash' | 'given' | 'plan' | 'schema' | 'params'> & { nowMs: number },
): Sub {
  const { nowMs: _nowMs, ...fields } = init
  return {
    ...fields,
    columns: [],
    rows: createSubRows(init.plan.tables.map((t) => encodeKey(t.pk.map(() => null)))),
    lastChangeId: 0,
    nextRowid: 1,
    listeners: new Set(),
    idleSinceMs: init.nowMs,
    pending: init.plan.tables.map(() => new Map()),
    dirty: false,
    failed: null,
    rerunNotBeforeMs: 0,
  }
}

/** Points a subscription at a new plan (after a schema change): stored rows are kept. */
export function replan(sub: Sub, plan: QueryPlan, schema: SchemaModel): void {
  const rows = createSubRows(plan.tables.map((t) => encodeKey(t.pk.map(() => null))))
  for (const k of sub.rows.keys()) {
    const e = sub.rows.get(k) as StoredEntry
    rows.put(k, { ...e, tableKeys: tableKeysOf(plan, k) })
  }
  sub.rows = rows
  sub.plan = plan
  sub.schema = schema
  sub.pending = plan.tables.map(() => new Map())
}

/** The per-table keys of a stored row key of an incremental plan (empty otherwise). */
export function tableKeysOf(plan: QueryPlan, key: string): string[] {
  if (plan.maintenance !== 'incremental' || plan.identity.kind !== 'pks') return []
  let values: SqlValue[]
  try {
    values = decodeKey(key.replace(/#\d+$/, ''))
  } catch {
    return []
  }
  if (values.length !== plan.hiddenCount) return []
  return plan.tables.map((t) => encodeKey(values.slice(t.hiddenOffset, t.hiddenOffset + t.pk.length)))
}

export function infoOf(sub: Sub): SubscriptionInfo {
  return {
    id: sub.id,
    hash: sub.hash,
    sql: sub.plan.sql,
    columns: sub.columns,
    lastChangeId: sub.lastChangeId,
    rowCount: sub.rows.size,
    listeners: sub.listeners.size,
    maintenance: sub.plan.maintenance,
    rerunReason: sub.plan.rerunReason,
    failed: sub.failed,
  }
}
