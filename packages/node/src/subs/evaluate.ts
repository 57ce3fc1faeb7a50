import { PatinaError, type SqlValue } from '@patina/api'
import { decodeKey, encodeKey, restrictedSql, type QueryPlan, type StateEngine } from '@patina/core'
import { createIdentifier, type FreshRow } from './diff.js'
import { deadlineMessage } from '../api/deadlines.js'
import type { FailureReason } from './metrics.js'
import type { SubRows } from './rows.js'

/**
 * Running a subscription's queries: the full result, and for incremental plans the result
 * restricted to the rows a set of changed keys can affect.
 */

export interface ReadLimits {
  /** Stop and fail when the result has more rows than this. */
  maxRows?: number
  /** Stop and fail when the statement runs longer than this, in milliseconds (a re-run). */
  maxMs?: number
  /** Name of the setting behind each limit, for the error message. */
  names?: { maxRows: string; maxMs: string }
  /**
   * Deadline of every statement, in milliseconds (`api.limits.main_thread_max_ms`): SQLite stops
   * a statement still running then.
   */
  statementMs?: number
  /** Called when a statement was stopped at its deadline (the interrupt metric). */
  onInterrupt?: () => void
}

/** A maintenance failure that is not the query's SQL error (a limit was crossed). */
export class MaintenanceLimitError extends PatinaError {
  constructor(
    readonly reason: FailureReason,
    message: string,
  ) {
    super('PATINA_ERR_SUBSCRIPTION_UNSUPPORTED', message)
  }
}

/**
 * Runs one subscription statement. Every statement of the hub goes through here: it runs under
 * a deadline inside SQLite (the smaller of the re-run limit and the statement limit), and one
 * stopped there fails with the limit it crossed named.
 */
export function readRows(
  engine: StateEngine,
  sql: string,
  params: Record<string, SqlValue> | undefined,
  limits: ReadLimits = {},
): { columns: string[]; rows: SqlValue[][]; ms: number } {
  const started = performance.now()
  const rerunFirst = limits.maxMs !== undefined && limits.maxMs <= (limits.statementMs ?? Infinity)
  const timeoutMs = Math.min(limits.maxMs ?? Infinity, limits.statementMs ?? Infinity)
  const rows: SqlValue[][] = []
  let columns: string[]
  try {
    // Rows keep SQLite's storage classes (INTEGER as bigint), so that `rowJson` writes REAL 2.0 as `2.0`.
    const cur = engine.query(sql, params, {
      exactIntegers: true,
      ...(Number.isFinite(timeoutMs) ? { timeoutMs } : {}),
    })
    columns = cur.columns.map((c) => c.name)
    for (const row of cur.rows) {
      rows.push(row)
      if (limits.maxRows !== undefined && rows.length > limits.maxRows) {
        // Leaving the loop releases the statement.
        throw new MaintenanceLimitError(
          'rerun_rows',
          `re-running it returns more than ${limits.maxRows} rows (${limits.names?.maxRows ?? 'maxRows'})`,
        )
      }
    }
  } catch (err) {
    if (!(err instanceof PatinaError) || err.code !== 'PATINA_ERR_TIMEOUT') throw err
    limits.onInterrupt?.()
    if (rerunFirst) {
      throw new MaintenanceLimitError(
        'rerun_time',
        `re-running it was stopped at ${limits.maxMs} ms (${limits.names?.maxMs ?? 'maxMs'})`,
      )
    }
    throw new MaintenanceLimitError(
      'timeout',
      deadlineMessage('subscription', { ms: timeoutMs, source: 'main_thread_max_ms' }),
    )
  }
  const ms = performance.now() - started
  if (limits.maxMs !== undefined && ms > limits.maxMs) {
    throw new MaintenanceLimitError(
      'rerun_time',
      `re-running it took ${Math.round(ms)} ms, above ${limits.maxMs} ms (${limits.names?.maxMs ?? 'maxMs'})`,
    )
  }
  return { columns, rows, ms }
}

export interface FullResult {
  /** Output column names (hidden columns excluded). */
  columns: string[]
  /** Rows by identity key, in result order. */
  fresh: Map<string, FreshRow>
  ms: number
}

/** The plan's whole result. */
export function evaluateFull(
  engine: StateEngine,
  plan: QueryPlan,
  params: Record<string, SqlValue> | undefined,
  limits: ReadLimits = {},
): FullResult {
  const r = readRows(engine, plan.innerSql, params, limits)
  const identify = createIdentifier(plan)
  const fresh = new Map<string, FreshRow>()
  for (const row of r.rows) {
    const { key, fresh: f } = identify(row)
    fresh.set(key, f)
  }
  return { columns: plan.outputColumns, fresh, ms: r.ms }
}

/** Runs an incremental plan's query restricted to keys of one table, `maxKeys` keys at a time. */
function restricted(
  engine: StateEngine,
  plan: QueryPlan,
  params: Record<string, SqlValue> | undefined,
  tableIndex: number,
  keys: SqlValue[][],
  maxKeys: number,
  limits: ReadLimits,
): SqlValue[][] {
  const out: SqlValue[][] = []
  for (let i = 0; i < keys.length; i += maxKeys) {
    const chunk = keys.slice(i, i + maxKeys)
    const p: Record<string, SqlValue> = { ...params }
    chunk.flat().forEach((v, k) => (p[`:__patina_k${k}`] = v))
    out.push(...readRows(engine, restrictedSql(plan, tableIndex, chunk.length), p, limits).rows)
  }
  return out
}

/**
 * The fresh rows of every root row that a change of `pending` keys (per plan table) can
 * affect, and the stored row keys of those roots (the scope of the diff).
 */
export function evaluateIncremental(
  engine: StateEngine,
  plan: QueryPlan,
  params: Record<string, SqlValue> | undefined,
  stored: SubRows,
  pending: readonly Map<string, SqlValue[]>[],
  maxKeys: number,
  limits: ReadLimits = {},
): { fresh: Map<string, FreshRow>; scope: Set<string> } {
  const roots = new Map<string, SqlValue[]>()
  const root = plan.tables[0]
  const rootLen = root?.pk.length ?? 0
  pending.forEach((pks, ti) => {
    if (pks.size === 0) return
    if (ti === 0) {
      for (const [k, v] of pks) roots.set(k, v)
      return
    }
    // Root rows joined to the changed rows before the change...
    for (const k of pks.keys()) {
      for (const rowKey of stored.withTableKey(ti, k)) {
        const rk = stored.get(rowKey)?.tableKeys[0]
        if (rk !== undefined) roots.set(rk, decodeKey(rk))
      }
    }
    // ...and after it.
    const hiddenAt = (row: SqlValue[]): number => row.length - plan.hiddenCount
    for (const row of restricted(engine, plan, params, ti, [...pks.values()], maxKeys, limits)) {
      const rv = row.slice(hiddenAt(row), hiddenAt(row) + rootLen)
      roots.set(encodeKey(rv), rv)
    }
  })
  const fresh = new Map<string, FreshRow>()
  const scope = new Set<string>()
  if (roots.size === 0) return { fresh, scope }
  const identify = createIdentifier(plan)
  for (const row of restricted(engine, plan, params, 0, [...roots.values()], maxKeys, limits)) {
    const { key, fresh: f } = identify(row)
    fresh.set(key, f)
  }
  for (const rk of roots.keys()) for (const k of stored.withTableKey(0, rk)) scope.add(k)
  return { fresh, scope }
}
