import { createHash, randomUUID } from 'node:crypto'
import { PatinaError, type SqlValue } from '@patina/api'
import {
  createQueryProbe,
  encodeKey,
  encodeParams,
  isRelevant,
  planSubscription,
  trimStatement,
  type CommitEvent,
  type QueryPlan,
  type QueryProbe,
  type SchemaModel,
  type Statement,
  type StateEngine,
  type StoredRow,
  type SubsStore,
} from '@patina/core'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { evaluateFull, MaintenanceLimitError } from './evaluate.js'
import { createMaintainer } from './maintain.js'
import { componentLogger } from '../runtime/log.js'
import { createHubMetrics } from './metrics.js'
import { DEFAULT_SUBSCRIPTION_HUB_OPTIONS, type SubscriptionHubOptions } from './options.js'
import { restoreSubscriptions } from './restore.js'
import type { EventSink } from './sink.js'
import { replay, resumeRefusal, snapshotLines } from './stream.js'
import { infoOf, newSub, replan, type Sub, type SubscriptionInfo } from './subscription.js'
import { createTableWatches } from './watches.js'

export { DEFAULT_SUBSCRIPTION_HUB_OPTIONS, type SubscriptionHubOptions } from './options.js'
export type { EventSink } from './sink.js'
export type { SubscriptionInfo } from './subscription.js'

export interface SubscriptionHubDeps {
  engine: StateEngine
  /** Persistent subscription state (`openSubsStore` from `@patina/core`). */
  store: SubsStore
  logger: Logger
  registry?: Registry
  /** Wall clock in milliseconds (injected for tests). */
  now?: () => number
  newId?: () => string
}

export interface AttachOptions {
  /** Resume after this change id (only `change` events with a larger id). 0 or absent = snapshot. */
  from?: number
  /** Suppress the snapshot (`columns`, `row`, `eoq`). */
  skipRows?: boolean
}

export interface SubscriptionHub {
  /**
   * Finds the subscription of this statement (identical normalized SQL and parameters share
   * one), or creates it by running the query. A query that cannot be kept exact is refused
   * with `PATINA_ERR_SUBSCRIPTION_UNSUPPORTED` naming why. With `mustExist` (a `from` was
   * given) a missing subscription is `PATINA_ERR_FROM_WITHOUT_SUBSCRIPTION`.
   */
  upsert(stmt: Statement, opts?: { mustExist?: boolean }): { info: SubscriptionInfo; created: boolean }
  get(id: string): SubscriptionInfo | undefined
  list(): SubscriptionInfo[]
  /**
   * Streams a subscription into `sink`: the snapshot (or the replay after `from`), then every
   * live change. Resolves when the initial part has been written. A failed subscription is
   * rebuilt from scratch first; when that fails too, the sink gets the error.
   */
  attach(id: string, sink: EventSink, opts?: AttachOptions): Promise<void>
  /** Table-level primary-key notifications (`/v1/updates/:table`); returns the handle id. */
  watchTable(table: string, sink: EventSink): string
  /** Runs pending maintenance now, re-runs included (otherwise it runs on the next tick). */
  flush(): void
  /** Collects idle subscriptions and purges old changes now (also runs on a timer). */
  gc(): void
  /** Stops timers and listeners and ends every stream; persisted state stays. */
  close(): void
}

/** A plan with what it was made from. */
export interface Planned {
  plan: QueryPlan
  params: Record<string, SqlValue> | undefined
  schema: SchemaModel
}

/** Creates the hub of live subscriptions; restores persisted subscriptions before returning. */
export function createSubscriptionHub(
  deps: SubscriptionHubDeps,
  init: Partial<SubscriptionHubOptions> = {},
): SubscriptionHub {
  const opts: SubscriptionHubOptions = { ...DEFAULT_SUBSCRIPTION_HUB_OPTIONS, ...init }
  const { engine, store } = deps
  const log = componentLogger(deps.logger, 'subs')
  const now = deps.now ?? Date.now
  const newId = deps.newId ?? randomUUID

  const subs = new Map<string, Sub>()
  const byHash = new Map<string, Sub>()
  const byTable = new Map<string, Set<Sub>>()
  const watches = createTableWatches(() => engine.schema(), newId)
  let seenSchema = engine.schema()
  let probe: { schema: SchemaModel; probe: QueryProbe } | null = null
  let scheduled = false
  let rerunTimer: NodeJS.Timeout | null = null
  let closed = false

  const metrics = createHubMetrics(deps.registry, () => {
    let listeners = 0
    let broken = 0
    for (const s of subs.values()) {
      listeners += s.listeners.size
      if (s.failed !== null) broken++
    }
    return { subs: subs.size, listeners, broken }
  })
  const maintainer = createMaintainer({ engine, store, opts, metrics, log, now })

  // ------------------------------------------------------------------ registry

  function plan(given: Statement): Planned {
    const bytes = Buffer.byteLength(given.sql)
    if (bytes > opts.sqlMaxBytes) {
      throw new PatinaError(
        'PATINA_ERR_STATEMENT_INVALID',
        `the subscription statement is ${bytes} bytes; api.subscriptions.sql_max_bytes allows ${opts.sqlMaxBytes}`,
      )
    }
    const schema = engine.schema()
    if (probe?.schema !== schema) {
      probe?.probe.close()
      probe = { schema, probe: createQueryProbe(schema) }
    }
    const { plan: p, params } = planSubscription(given.sql, given.params, schema, probe.probe)
    return { plan: p, params, schema }
  }

  function register(sub: Sub): void {
    subs.set(sub.id, sub)
    byHash.set(sub.hash, sub)
    for (const t of sub.plan.columns.keys()) {
      let set = byTable.get(t)
      if (!set) byTable.set(t, (set = new Set()))
      set.add(sub)
    }
  }

  function unregister(sub: Sub): void {
    subs.delete(sub.id)
    if (byHash.get(sub.hash) === sub) byHash.delete(sub.hash)
    for (const set of byTable.values()) set.delete(sub)
    for (const l of [...sub.listeners]) l.end()
    sub.listeners.clear()
  }

  function hashOf(sql: string, params: Statement['params']): string {
    return createHash('sha256')
      .update(trimStatement(sql))
      .update('\u0000')
      .update(encodeParams(params) ?? '')
      .digest('hex')
      .slice(0, 16)
  }

  /** Creates, persists and registers a subscription: runs its query for the first snapshot. */
  function create(given: Statement, hash: string, planned: Planned): Sub {
    const sub = newSub({ id: newId(), hash, given, ...planned, nowMs: now() })
    let r
    try {
      r = evaluateFull(engine, planned.plan, planned.params, maintainer.limitsOf({ plan: planned.plan }))
    } catch (err) {
      if (err instanceof MaintenanceLimitError && err.reason === 'timeout') {
        throw new PatinaError('PATINA_ERR_TIMEOUT', err.message)
      }
      if (err instanceof MaintenanceLimitError) {
        throw new PatinaError(
          'PATINA_ERR_SUBSCRIPTION_UNSUPPORTED',
          `${String(planned.plan.rerunReason)} cannot be maintained incrementally, so the query would run again after every change to what it reads, and ${err.message}; narrow the query or raise the limit`,
        )
      }
      if (err instanceof PatinaError && err.code !== 'PATINA_ERR_SQL' && err.code !== 'PATINA_ERR_INTERNAL')
        throw err
      // SQL errors in a subscription query are the client's (Corrosion answers 400).
      throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', (err as Error).message, { cause: err })
    }
    sub.columns = r.columns
    const rows: StoredRow[] = []
    for (const [key, f] of r.fresh) {
      const entry = { rowid: sub.nextRowid++, cells: f.cells, tableKeys: f.tableKeys }
      sub.rows.put(key, entry)
      rows.push({ rowid: entry.rowid, key, cells: f.cells })
    }
    store.create(
      {
        id: sub.id,
        sql: given.sql,
        params: encodeParams(given.params),
        hash,
        lastChangeId: 0,
        nextRowid: sub.nextRowid,
        createdAtMs: now(),
        columns: sub.columns,
      },
      rows,
    )
    register(sub)
    log.info(
      {
        sub: sub.id,
        sql: planned.plan.sql,
        rows: sub.rows.size,
        maintenance: planned.plan.maintenance,
        reason: planned.plan.rerunReason,
      },
      'created subscription',
    )
    return sub
  }

  /**
   * A subscription whose columns changed (a schema change) is a new subscription: its
   * streams end with an `error` telling them to subscribe again, its id disappears (resuming
   * it is 404) and the same statement gets a new id with a fresh snapshot on the next POST.
   */
  function replace(sub: Sub): void {
    const msg = `the query's columns changed after a schema change (it was ${JSON.stringify(sub.columns)}); subscribe again without from`
    metrics.failures.inc({ reason: 'columns_changed' })
    for (const l of [...sub.listeners]) l.fail(msg)
    unregister(sub)
    store.delete(sub.id)
    log.info({ sub: sub.id }, 'subscription columns changed; removed it')
  }

  // ------------------------------------------------------------------ schema changes

  /** Re-plans and rebuilds the subscriptions that read a table whose definition changed. */
  function checkSchema(): void {
    const schema = engine.schema()
    if (schema === seenSchema) return
    const old = seenSchema
    seenSchema = schema
    for (const sub of [...subs.values()]) {
      if (sub.failed !== null) continue // revived (and re-planned) by its next subscriber
      const touched = [...sub.plan.columns.keys()].some(
        (t) => old.tables.get(t)?.sql !== schema.tables.get(t)?.sql,
      )
      if (!touched) {
        sub.schema = schema
        continue
      }
      try {
        revive(sub)
      } catch (err) {
        if (subs.has(sub.id))
          maintainer.fail(sub, 'schema_change', `after a schema change: ${(err as Error).message}`)
      }
    }
  }

  /** Re-plans (when the schema changed) and rebuilds; replaces it when its columns changed. */
  function revive(sub: Sub): void {
    if (sub.schema !== engine.schema()) {
      const planned = plan(sub.given)
      for (const set of byTable.values()) set.delete(sub)
      replan(sub, planned.plan, planned.schema)
      sub.params = planned.params
      register(sub)
    }
    if (maintainer.rebuild(sub) === 'columns_changed') {
      replace(sub)
      throw new PatinaError(
        'PATINA_ERR_SUBSCRIPTION_NOT_FOUND',
        `subscription ${sub.id} was replaced: its columns changed`,
      )
    }
  }

  // ------------------------------------------------------------------ maintenance

  function runDue(force: boolean): void {
    scheduled = false
    if (closed) return
    checkSchema()
    let next = Infinity
    for (const sub of [...subs.values()]) {
      if (maintainer.step(sub, force) === 'waiting') next = Math.min(next, sub.rerunNotBeforeMs)
    }
    if (next !== Infinity && rerunTimer === null && !closed) {
      rerunTimer = setTimeout(
        () => {
          rerunTimer = null
          runDue(false)
        },
        Math.max(1, next - now()),
      )
      rerunTimer.unref()
    }
  }

  function schedule(): void {
    if (scheduled || closed) return
    scheduled = true
    setImmediate(() => runDue(false))
  }

  function onCommit(ev: CommitEvent): void {
    let any = false
    for (const row of ev.rows) {
      const set = byTable.get(row.table)
      if (!set) continue
      let key: string | undefined
      for (const sub of set) {
        if (sub.failed !== null || !isRelevant(sub.plan, row)) continue
        key ??= encodeKey(row.pkValues)
        sub.plan.tables.forEach((t, ti) => {
          if (t.table === row.table) sub.pending[ti]?.set(key as string, row.pkValues)
        })
        sub.dirty = true
        any = true
      }
    }
    if (any) schedule()
    watches.notify(ev)
  }

  // ------------------------------------------------------------------ attach

  function detach(sub: Sub, sink: EventSink): void {
    if (!sub.listeners.delete(sink)) return
    if (sub.listeners.size === 0) sub.idleSinceMs = now()
  }

  async function attach(id: string, sink: EventSink, a: AttachOptions = {}): Promise<void> {
    const found = subs.get(id)
    if (!found)
      throw new PatinaError('PATINA_ERR_SUBSCRIPTION_NOT_FOUND', `could not find subscription with id ${id}`)
    checkSchema()
    const sub = subs.get(id)
    if (!sub)
      throw new PatinaError('PATINA_ERR_SUBSCRIPTION_NOT_FOUND', `could not find subscription with id ${id}`)
    if (sub.failed !== null) {
      try {
        revive(sub)
        log.info({ sub: sub.id }, 'revived failed subscription')
      } catch (err) {
        if (subs.has(sub.id)) sub.failed = (err as Error).message
        sink.fail(`subscription ${id} cannot be maintained: ${(err as Error).message}`)
        return
      }
    }
    // Bring the stored rows up to date so that the snapshot and the change ids agree.
    maintainer.step(sub, true)
    if (sub.failed !== null) {
      sink.fail(`subscription ${id} cannot be maintained: ${sub.failed}`)
      return
    }
    const from = a.from ?? 0
    const last = sub.lastChangeId
    let source: Iterable<string> | AsyncIterable<string>
    if (from > 0) {
      const refusal = resumeRefusal(sub, store, from)
      if (refusal !== null) {
        sink.fail(refusal)
        return
      }
      source = from < last ? replay(sub, store, from, last, opts.replayPageSize) : []
    } else if (a.skipRows) {
      source = []
    } else {
      source = snapshotLines(sub)
    }
    sub.listeners.add(sink)
    sub.idleSinceMs = null
    sink.onClose(() => detach(sub, sink))
    await sink.pipeFrom(source)
  }

  // ------------------------------------------------------------------ public

  function upsert(
    stmt: Statement,
    o: { mustExist?: boolean } = {},
  ): { info: SubscriptionInfo; created: boolean } {
    if (closed) throw new PatinaError('PATINA_ERR_CLOSED', 'the subscription hub is closed')
    checkSchema()
    const hash = hashOf(stmt.sql, stmt.params)
    const existing = byHash.get(hash)
    if (existing) return { info: infoOf(existing), created: false }
    if (o.mustExist) {
      throw new PatinaError(
        'PATINA_ERR_FROM_WITHOUT_SUBSCRIPTION',
        'a `from` query param was supplied, but no existing subscription found',
      )
    }
    return { info: infoOf(create(stmt, hash, plan(stmt))), created: true }
  }

  function gc(): void {
    const t = now()
    for (const sub of [...subs.values()]) {
      if (sub.listeners.size === 0 && sub.idleSinceMs !== null && t - sub.idleSinceMs >= opts.idleMs) {
        unregister(sub)
        store.delete(sub.id)
        log.info({ sub: sub.id }, 'collected idle subscription')
        continue
      }
      const n = store.purge(sub.id, { maxCount: opts.retainChanges, beforeMs: t - opts.retainMs })
      if (n > 0) log.debug({ sub: sub.id, purged: n }, 'purged old subscription changes')
    }
  }

  restoreSubscriptions({ store, log, now, plan, maintainer, register, replace })
  const unsubscribe = engine.onCommit(onCommit)
  const timer = setInterval(() => {
    try {
      gc()
    } catch (err) {
      log.error({ err }, 'subscription gc failed')
    }
  }, opts.gcIntervalMs)
  timer.unref()

  return {
    upsert,
    get: (id) => {
      const s = subs.get(id)
      return s ? infoOf(s) : undefined
    },
    list: () => [...subs.values()].map(infoOf),
    attach,
    watchTable: (table, sink) => watches.watch(table, sink),
    flush: () => runDue(true),
    gc,
    close() {
      if (closed) return
      closed = true
      clearInterval(timer)
      if (rerunTimer !== null) clearTimeout(rerunTimer)
      unsubscribe()
      for (const sub of subs.values()) for (const l of [...sub.listeners]) l.end()
      watches.close()
      probe?.probe.close()
    },
  }
}
