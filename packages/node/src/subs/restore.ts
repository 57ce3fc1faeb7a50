import { decodeParams, type Statement, type SubRecord, type SubsStore } from '@patina/core'
import type { Logger } from 'pino'
import type { Maintainer } from './maintain.js'
import { MaintenanceLimitError } from './evaluate.js'
import type { Planned } from './hub.js'
import { newSub, tableKeysOf, type Sub } from './subscription.js'

export interface RestoreDeps {
  store: SubsStore
  log: Logger
  now: () => number
  plan(given: Statement): Planned
  maintainer: Maintainer
  register(sub: Sub): void
  /** Re-creates a subscription whose columns changed while the node was down. */
  replace(sub: Sub): void
}

/**
 * Loads the persisted subscriptions at start. Commits made while their state was not being
 * written (a crash between a state commit and the subscription batch, or writes while the
 * hub was down) are caught up by a full re-run diffed against the stored rows. A query that
 * no longer plans is deleted; one whose re-run fails stays, failed, so that a resuming client
 * hears why.
 */
export function restoreSubscriptions(deps: RestoreDeps): void {
  const { store, log } = deps
  for (const rec of store.list()) {
    const params = decodeParams(rec.params)
    const given: Statement = params === undefined ? { sql: rec.sql } : { sql: rec.sql, params }
    let planned: Planned
    try {
      planned = deps.plan(given)
    } catch (err) {
      log.error({ err, sub: rec.id }, 'could not restore subscription; deleting it')
      store.delete(rec.id)
      continue
    }
    const sub = load(rec, given, planned, deps)
    deps.register(sub)
    try {
      if (deps.maintainer.rebuild(sub) === 'columns_changed') {
        deps.replace(sub)
        continue
      }
      log.info({ sub: sub.id, rows: sub.rows.size, lastChangeId: sub.lastChangeId }, 'restored subscription')
    } catch (err) {
      deps.maintainer.fail(
        sub,
        err instanceof MaintenanceLimitError ? err.reason : 'sql_error',
        (err as Error).message,
      )
    }
  }
}

function load(rec: SubRecord, given: Statement, planned: Planned, deps: RestoreDeps): Sub {
  const sub = newSub({
    id: rec.id,
    hash: rec.hash,
    given,
    plan: planned.plan,
    schema: planned.schema,
    params: planned.params,
    nowMs: deps.now(),
  })
  sub.lastChangeId = rec.lastChangeId
  sub.nextRowid = rec.nextRowid
  sub.columns = rec.columns ?? []
  for (const r of deps.store.rows(rec.id)) {
    sub.rows.put(r.key, { rowid: r.rowid, cells: r.cells, tableKeys: tableKeysOf(planned.plan, r.key) })
  }
  return sub
}
