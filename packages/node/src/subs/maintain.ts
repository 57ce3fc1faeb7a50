import { PatinaError } from '@patina/api'
import type { StateEngine, SubsStore } from '@patina/core'
import type { Logger } from 'pino'
import { lines } from '../wire/json.js'
import { batchOf, diffRows, type Diff } from './diff.js'
import { evaluateFull, evaluateIncremental, MaintenanceLimitError, type ReadLimits } from './evaluate.js'
import type { FailureReason, HubMetrics } from './metrics.js'
import type { SubscriptionHubOptions } from './options.js'
import type { Sub } from './subscription.js'

export interface MaintainerDeps {
  engine: StateEngine
  store: SubsStore
  opts: SubscriptionHubOptions
  metrics: HubMetrics
  log: Logger
  now: () => number
}

/**
 * Keeps subscriptions exact: one maintenance step after commits, a full rebuild (revival,
 * schema change, restore), and the failure path. A step that fails never leaves stale rows
 * behind quietly: the subscription is marked failed, its streams end with an `error` event,
 * the failure is counted, and the next subscriber gets either that error or, when a rebuild
 * from scratch succeeds, an exact snapshot.
 */
export interface Maintainer {
  /**
   * Brings `sub` up to date with the commits since its last step. Re-run plans wait for
   * their spacing (`rerunMaxShare`) unless `force`; returns `waiting` then.
   */
  step(sub: Sub, force: boolean): 'done' | 'waiting'
  /**
   * Runs the whole query and diffs it against every stored row; throws on failure. When the
   * result's columns are not the subscription's any more (a schema change), nothing is
   * applied: the subscription must be replaced (its clients hold the old header).
   */
  rebuild(sub: Sub): { columns: string[] } | 'columns_changed'
  /** Stops maintaining `sub`: ends its streams with an error and counts the failure. */
  fail(sub: Sub, reason: FailureReason, message: string): void
  /** Limits of the statements of `sub` (a re-run's, for plans that are not incremental). */
  limitsOf(sub: { plan: { maintenance: string } }): ReadLimits
}

export function createMaintainer(deps: MaintainerDeps): Maintainer {
  const { engine, store, opts, metrics, log, now } = deps
  const baseLimits: ReadLimits = {
    statementMs: opts.statementMaxMs,
    onInterrupt: () => metrics.interrupted(),
  }
  const rerunLimits: ReadLimits = {
    ...baseLimits,
    maxRows: opts.rerunMaxRows,
    maxMs: opts.rerunMaxMs,
    names: { maxRows: 'api.subscriptions.rerun_max_rows', maxMs: 'api.subscriptions.rerun_max_ms' },
  }
  const limitsOf = (sub: { plan: { maintenance: string } }): ReadLimits =>
    sub.plan.maintenance === 'rerun' ? rerunLimits : baseLimits

  /** Persists the diffs, updates memory, then fans out. */
  function apply(sub: Sub, diffs: Diff[]): void {
    if (diffs.length === 0) return
    const batch = batchOf(diffs, sub, now())
    store.commit(sub.id, batch)
    for (const d of diffs) {
      if (d.type === 'delete') sub.rows.delete(d.key)
      else sub.rows.put(d.key, d.entry)
    }
    sub.lastChangeId = batch.lastChangeId
    sub.nextRowid = batch.nextRowid
    metrics.changes.inc(batch.changes.length)
    if (sub.listeners.size === 0 || batch.changes.length === 0) return
    const out = batch.changes.map((c) => lines.change(c.type, c.rowid, c.cells, c.changeId))
    for (const l of sub.listeners) {
      for (const line of out) if (!l.write(line)) break
    }
  }

  function fail(sub: Sub, reason: FailureReason, message: string): void {
    sub.failed = message
    sub.dirty = false
    for (const p of sub.pending) p.clear()
    metrics.failures.inc({ reason })
    log.warn({ sub: sub.id, reason, message }, 'subscription no longer maintained')
    const line = `subscription ${sub.id} is no longer maintained: ${message}; subscribe again to retry`
    for (const l of [...sub.listeners]) l.fail(line)
  }

  function reasonOf(err: unknown): FailureReason {
    return err instanceof MaintenanceLimitError ? err.reason : 'sql_error'
  }

  function step(sub: Sub, force: boolean): 'done' | 'waiting' {
    if (sub.failed !== null || !sub.dirty) return 'done'
    const rerun = sub.plan.maintenance === 'rerun'
    if (rerun && !force && now() < sub.rerunNotBeforeMs) return 'waiting'
    const pending = sub.pending
    sub.pending = sub.plan.tables.map(() => new Map())
    sub.dirty = false
    const started = performance.now()
    try {
      if (rerun) {
        const r = evaluateFull(engine, sub.plan, sub.params, rerunLimits)
        apply(sub, diffRows(sub.rows, r.fresh, [...sub.rows.keys()]))
      } else {
        const r = evaluateIncremental(
          engine,
          sub.plan,
          sub.params,
          sub.rows,
          pending,
          opts.maxKeysPerQuery,
          baseLimits,
        )
        apply(sub, diffRows(sub.rows, r.fresh, r.scope))
      }
    } catch (err) {
      fail(sub, reasonOf(err), (err as Error).message)
    } finally {
      const ms = performance.now() - started
      metrics.process.observe({ maintenance: sub.plan.maintenance }, ms / 1000)
      if (rerun) sub.rerunNotBeforeMs = now() + ms * (1 / opts.rerunMaxShare - 1)
    }
    return 'done'
  }

  function rebuild(sub: Sub): { columns: string[] } | 'columns_changed' {
    let r
    try {
      r = evaluateFull(engine, sub.plan, sub.params, limitsOf(sub))
    } catch (err) {
      if (err instanceof PatinaError) throw err
      throw new PatinaError('PATINA_ERR_SQL', (err as Error).message, { cause: err })
    }
    if (sub.columns.length > 0 && JSON.stringify(sub.columns) !== JSON.stringify(r.columns)) {
      return 'columns_changed'
    }
    sub.pending = sub.plan.tables.map(() => new Map())
    sub.dirty = false
    sub.columns = r.columns
    apply(sub, diffRows(sub.rows, r.fresh, [...sub.rows.keys()]))
    sub.failed = null
    return { columns: r.columns }
  }

  return { step, rebuild, fail, limitsOf }
}
