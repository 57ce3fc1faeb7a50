import { createHash, randomUUID } from 'node:crypto'
import { PatinaError, type SqlValue } from '@patina/api'
import type {
  CommitEvent,
  Statement,
  StateEngine,
  StoredChange,
  StoredChangeType,
  StoredRow,
  SubsStore,
} from '@patina/core'
import type { Logger } from 'pino'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { lines, rowJson } from '../api/json.js'
import { decodeKey, decodeParams, encodeKey, encodeParams } from './keys.js'
import { isRelevant, planSubscription, restrictedSql, type QueryPlan } from './matcher.js'
import { trimStatement } from './sql-text.js'
import { componentLogger } from '../log.js'

/** Where a subscription or updates stream writes its NDJSON lines (an `NdjsonSink`). */
export interface EventSink {
  readonly closed: boolean
  /** Live line; never waits. Returns false when the sink is closed. */
  write(line: string): boolean
  /** Lines written with backpressure before any live line. */
  pipeFrom(source: Iterable<string> | AsyncIterable<string>): Promise<void>
  fail(message: string): void
  end(): void
  onClose(cb: () => void): void
}

export interface SubscriptionHubOptions {
  /** Changes kept per subscription for `from` resumes, by count. Corrosion keeps 500. */
  retainChanges: number
  /** Changes older than this are dropped, in milliseconds. */
  retainMs: number
  /** A subscription without listeners for this long is deleted (Corrosion: 10 min), in milliseconds. */
  idleMs: number
  /** Period of the idle collection and change-log purge, in milliseconds. */
  gcIntervalMs: number
  /** Most primary keys bound into one re-evaluation query. */
  maxKeysPerQuery: number
  /** Changes read from the store per page when replaying `from`. */
  replayPageSize: number
}

export const DEFAULT_SUBSCRIPTION_HUB_OPTIONS: Readonly<SubscriptionHubOptions> = Object.freeze({
  retainChanges: 100_000,
  retainMs: 24 * 60 * 60 * 1000,
  idleMs: 10 * 60 * 1000,
  gcIntervalMs: 60 * 1000,
  maxKeysPerQuery: 256,
  replayPageSize: 1000,
})

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

/** What the API shows of a subscription. */
export interface SubscriptionInfo {
  id: string
  hash: string
  sql: string
  columns: string[]
  lastChangeId: number
  rowCount: number
  listeners: number
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
   * one), or creates it by running the query. With `mustExist` (a `from` was given) a missing
   * subscription is `PATINA_ERR_FROM_WITHOUT_SUBSCRIPTION`.
   */
  upsert(stmt: Statement, opts?: { mustExist?: boolean }): { info: SubscriptionInfo; created: boolean }
  get(id: string): SubscriptionInfo | undefined
  list(): SubscriptionInfo[]
  /**
   * Streams a subscription into `sink`: the snapshot (or the replay after `from`), then every
   * live change. Resolves when the initial part has been written.
   */
  attach(id: string, sink: EventSink, opts?: AttachOptions): Promise<void>
  /** Table-level primary-key notifications (`/v1/updates/:table`); returns the handle id. */
  watchTable(table: string, sink: EventSink): string
  /** Runs pending incremental maintenance now (otherwise it runs on the next tick). */
  flush(): void
  /** Collects idle subscriptions and purges old changes now (also runs on a timer). */
  gc(): void
  /** Stops timers and listeners and ends every stream; persisted state stays. */
  close(): void
}

interface StoredEntry {
  rowid: number
  cells: string
  /** encodeKey of each table's primary key in this row (tables of the plan, in order). */
  tableKeys: string[]
}

interface Sub {
  id: string
  hash: string
  plan: QueryPlan
  /** Parameters as the plan binds them (named). */
  params: Record<string, SqlValue> | undefined
  columns: string[]
  rows: Map<string, StoredEntry>
  /** Per table of the plan: table key -> row keys containing it. */
  index: Map<string, Set<string>>[]
  /** Per table of the plan: the key of an unmatched (all-NULL) left-joined row; never indexed. */
  nullKeys: string[]
  lastChangeId: number
  nextRowid: number
  listeners: Set<EventSink>
  idleSinceMs: number | null
  /** Per table of the plan: changed primary keys waiting for maintenance. */
  pending: Map<string, SqlValue[]>[]
  hasPending: boolean
}

interface TableWatch {
  id: string
  sinks: Set<EventSink>
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
  const watches = new Map<string, TableWatch>()
  let scheduled = false
  let closed = false

  const metrics = createMetrics(deps.registry, () => ({
    subs: subs.size,
    listeners: [...subs.values()].reduce((n, s) => n + s.listeners.size, 0),
  }))

  // ------------------------------------------------------------------ helpers

  /** Runs a plan query; `keys` bind to `:__patina_k<n>` after the subscription's own parameters. */
  function runQuery(
    sql: string,
    params: Record<string, SqlValue> | undefined,
    keys: SqlValue[],
  ): SqlValue[][] {
    let p: Record<string, SqlValue> | undefined = params
    if (keys.length > 0) {
      p = { ...params }
      keys.forEach((v, i) => ((p as Record<string, SqlValue>)[`:__patina_k${i}`] = v))
    }
    return [...engine.query(sql, p).rows]
  }

  function splitRow(plan: QueryPlan, row: SqlValue[]): { key: string; tableKeys: string[]; cells: string } {
    const hidden = row.slice(0, plan.hiddenCount)
    const tableKeys = plan.tables.map((t) =>
      encodeKey(hidden.slice(t.hiddenOffset, t.hiddenOffset + t.pk.length)),
    )
    return { key: encodeKey(hidden), tableKeys, cells: rowJson(row.slice(plan.hiddenCount)) }
  }

  function indexAdd(sub: Sub, key: string, e: StoredEntry): void {
    sub.rows.set(key, e)
    e.tableKeys.forEach((tk, ti) => {
      if (tk === sub.nullKeys[ti]) return
      const idx = sub.index[ti] as Map<string, Set<string>>
      let set = idx.get(tk)
      if (!set) idx.set(tk, (set = new Set()))
      set.add(key)
    })
  }

  function indexRemove(sub: Sub, key: string): void {
    const e = sub.rows.get(key)
    if (!e) return
    sub.rows.delete(key)
    e.tableKeys.forEach((tk, ti) => {
      const idx = sub.index[ti] as Map<string, Set<string>>
      const set = idx.get(tk)
      if (!set) return
      set.delete(key)
      if (set.size === 0) idx.delete(tk)
    })
  }

  function info(sub: Sub): SubscriptionInfo {
    return {
      id: sub.id,
      hash: sub.hash,
      sql: sub.plan.sql,
      columns: sub.columns,
      lastChangeId: sub.lastChangeId,
      rowCount: sub.rows.size,
      listeners: sub.listeners.size,
    }
  }

  function newSub(
    id: string,
    hash: string,
    plan: QueryPlan,
    params: Record<string, SqlValue> | undefined,
  ): Sub {
    return {
      id,
      hash,
      plan,
      params,
      columns: [],
      rows: new Map(),
      index: plan.tables.map(() => new Map()),
      nullKeys: plan.tables.map((t) => encodeKey(t.pk.map(() => null))),
      lastChangeId: 0,
      nextRowid: 1,
      listeners: new Set(),
      idleSinceMs: now(),
      pending: plan.tables.map(() => new Map()),
      hasPending: false,
    }
  }

  function register(sub: Sub): void {
    subs.set(sub.id, sub)
    byHash.set(sub.hash, sub)
    for (const t of sub.plan.tables) {
      let set = byTable.get(t.table)
      if (!set) byTable.set(t.table, (set = new Set()))
      set.add(sub)
    }
  }

  function unregister(sub: Sub): void {
    subs.delete(sub.id)
    if (byHash.get(sub.hash) === sub) byHash.delete(sub.hash)
    for (const t of sub.plan.tables) byTable.get(t.table)?.delete(sub)
    for (const l of sub.listeners) l.end()
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

  // ------------------------------------------------------------------ maintenance

  type Diff = { type: StoredChangeType; key: string; entry: StoredEntry }

  /** Re-evaluates the rows of the given root keys and diffs them against the stored rows. */
  function diffRoots(sub: Sub, roots: Map<string, SqlValue[]>): Diff[] {
    const { plan } = sub
    const fresh = new Map<string, { tableKeys: string[]; cells: string }>()
    const rootVals = [...roots.values()]
    for (let i = 0; i < rootVals.length; i += opts.maxKeysPerQuery) {
      const chunk = rootVals.slice(i, i + opts.maxKeysPerQuery)
      const sql = restrictedSql(plan, 0, chunk.length)
      for (const row of runQuery(sql, sub.params, chunk.flat())) {
        const r = splitRow(plan, row)
        fresh.set(r.key, r)
      }
    }
    const old = new Set<string>()
    for (const rk of roots.keys()) for (const k of sub.index[0]?.get(rk) ?? []) old.add(k)
    return diffSets(sub, fresh, old)
  }

  function diffSets(
    sub: Sub,
    fresh: Map<string, { tableKeys: string[]; cells: string }>,
    old: Set<string>,
  ): Diff[] {
    const out: Diff[] = []
    for (const [key, r] of fresh) {
      const prev = sub.rows.get(key)
      if (!prev)
        out.push({ type: 'insert', key, entry: { rowid: 0, cells: r.cells, tableKeys: r.tableKeys } })
      else if (prev.cells !== r.cells)
        out.push({
          type: 'update',
          key,
          entry: { rowid: prev.rowid, cells: r.cells, tableKeys: r.tableKeys },
        })
    }
    for (const key of old) {
      if (fresh.has(key)) continue
      const prev = sub.rows.get(key)
      if (prev) out.push({ type: 'delete', key, entry: prev })
    }
    return out
  }

  /** Assigns row and change ids, persists, updates memory, then fans out. */
  function applyDiffs(sub: Sub, diffs: Diff[]): void {
    if (diffs.length === 0) return
    const at = now()
    const upserts: StoredRow[] = []
    const deletes: number[] = []
    const changes: StoredChange[] = []
    let changeId = sub.lastChangeId
    let nextRowid = sub.nextRowid
    for (const d of diffs) {
      if (d.type === 'insert') d.entry.rowid = nextRowid++
      changeId++
      if (d.type === 'delete') deletes.push(d.entry.rowid)
      else upserts.push({ rowid: d.entry.rowid, key: d.key, cells: d.entry.cells })
      changes.push({ changeId, type: d.type, rowid: d.entry.rowid, cells: d.entry.cells, atMs: at })
    }
    store.commit(sub.id, { upserts, deletes, changes, lastChangeId: changeId, nextRowid })
    for (const d of diffs) {
      if (d.type === 'delete') indexRemove(sub, d.key)
      else {
        indexRemove(sub, d.key)
        indexAdd(sub, d.key, d.entry)
      }
    }
    sub.lastChangeId = changeId
    sub.nextRowid = nextRowid
    metrics.changes.inc(changes.length)
    if (sub.listeners.size === 0) return
    const out = changes.map((c) => lines.change(c.type, c.rowid, c.cells, c.changeId))
    for (const l of sub.listeners) {
      for (const line of out) if (!l.write(line)) break
    }
  }

  function processSub(sub: Sub): void {
    if (!sub.hasPending) return
    const pending = sub.pending
    sub.pending = sub.plan.tables.map(() => new Map())
    sub.hasPending = false
    const started = process.hrtime.bigint()
    const { plan } = sub
    const roots = new Map<string, SqlValue[]>()
    const rootLen = plan.tables[0]?.pk.length ?? 0
    pending.forEach((pks, ti) => {
      if (pks.size === 0) return
      if (ti === 0) {
        for (const [k, v] of pks) roots.set(k, v)
        return
      }
      // Root rows joined to the changed rows before the change...
      for (const k of pks.keys()) {
        for (const rowKey of sub.index[ti]?.get(k) ?? []) {
          const e = sub.rows.get(rowKey)
          if (e) roots.set(e.tableKeys[0] as string, decodeKey(e.tableKeys[0] as string))
        }
      }
      // ...and after it.
      const vals = [...pks.values()]
      for (let i = 0; i < vals.length; i += opts.maxKeysPerQuery) {
        const chunk = vals.slice(i, i + opts.maxKeysPerQuery)
        for (const row of runQuery(restrictedSql(plan, ti, chunk.length), sub.params, chunk.flat())) {
          const rv = row.slice(0, rootLen)
          roots.set(encodeKey(rv), rv)
        }
      }
    })
    if (roots.size > 0) applyDiffs(sub, diffRoots(sub, roots))
    metrics.process.observe(Number(process.hrtime.bigint() - started) / 1e9)
  }

  function flush(): void {
    scheduled = false
    for (const sub of subs.values()) {
      if (!sub.hasPending) continue
      try {
        processSub(sub)
      } catch (err) {
        log.error({ err, sub: sub.id }, 'subscription maintenance failed')
        for (const l of sub.listeners) l.fail(`subscription maintenance failed: ${(err as Error).message}`)
      }
    }
  }

  function schedule(): void {
    if (scheduled || closed) return
    scheduled = true
    setImmediate(flush)
  }

  function onCommit(ev: CommitEvent): void {
    let any = false
    for (const row of ev.rows) {
      const set = byTable.get(row.table)
      if (set) {
        let key: string | undefined
        for (const sub of set) {
          if (!isRelevant(sub.plan, row)) continue
          key ??= encodeKey(row.pkValues)
          sub.plan.tables.forEach((t, ti) => {
            if (t.table === row.table) sub.pending[ti]?.set(key as string, row.pkValues)
          })
          sub.hasPending = true
          any = true
        }
      }
    }
    if (any) schedule()
    notifyWatches(ev)
  }

  function notifyWatches(ev: CommitEvent): void {
    if (watches.size === 0) return
    const seen = new Set<string>()
    for (const row of ev.rows) {
      const w = watches.get(row.table)
      if (!w) continue
      const k = row.table + '\u0000' + encodeKey(row.pkValues)
      if (seen.has(k)) continue
      seen.add(k)
      const line = lines.notify(row.deleted ? 'delete' : 'update', rowJson(row.pkValues))
      for (const s of w.sinks) s.write(line)
    }
  }

  // ------------------------------------------------------------------ restore

  function restore(): void {
    for (const rec of store.list()) {
      try {
        const { plan, params } = planSubscription(rec.sql, decodeParams(rec.params), engine.schema())
        const sub = newSub(rec.id, rec.hash, plan, params)
        sub.lastChangeId = rec.lastChangeId
        sub.nextRowid = rec.nextRowid
        for (const r of store.rows(rec.id)) {
          const tableKeys = splitKey(plan, r.key)
          indexAdd(sub, r.key, { rowid: r.rowid, cells: r.cells, tableKeys })
        }
        // Changes committed while the subscription's state was not being written (a crash
        // between the state commit and the subscription batch) are found by a full re-run.
        const cur = engine.query(plan.innerSql, params)
        sub.columns = cur.columns.slice(plan.hiddenCount).map((c) => c.name)
        const fresh = new Map<string, { tableKeys: string[]; cells: string }>()
        for (const row of cur.rows) {
          const r = splitRow(plan, row)
          fresh.set(r.key, r)
        }
        register(sub)
        applyDiffs(sub, diffSets(sub, fresh, new Set(sub.rows.keys())))
        log.info(
          { sub: sub.id, rows: sub.rows.size, lastChangeId: sub.lastChangeId },
          'restored subscription',
        )
      } catch (err) {
        log.error({ err, sub: rec.id }, 'could not restore subscription; deleting it')
        store.delete(rec.id)
      }
    }
  }

  // ------------------------------------------------------------------ attach

  function snapshotLines(sub: Sub): { lines: string[]; timeSec: number } {
    const started = process.hrtime.bigint()
    const out: string[] = [lines.columns(sub.columns)]
    if (sub.plan.hasOrderBy) {
      const cur = engine.query(sub.plan.innerSql, sub.params)
      for (const row of cur.rows) {
        const key = encodeKey(row.slice(0, sub.plan.hiddenCount))
        const e = sub.rows.get(key)
        if (e) out.push(lines.row(e.rowid, e.cells))
      }
    } else {
      for (const e of sub.rows.values()) out.push(lines.row(e.rowid, e.cells))
    }
    return { lines: out, timeSec: Number(process.hrtime.bigint() - started) / 1e9 }
  }

  async function* replay(sub: Sub, from: number, upTo: number): AsyncGenerator<string> {
    let after = from
    while (after < upTo) {
      const page = store.changesAfter(sub.id, after, Math.min(opts.replayPageSize, upTo - after))
      if (page.length === 0 || (page[0] as StoredChange).changeId !== after + 1) {
        yield lines.error(tooOld(store.minChangeId(sub.id) ?? sub.lastChangeId + 1))
        return
      }
      for (const c of page) {
        if (c.changeId > upTo) return
        yield lines.change(c.type, c.rowid, c.cells, c.changeId)
        after = c.changeId
      }
      // Let other work run between pages.
      await new Promise((r) => setImmediate(r))
    }
  }

  function tooOld(min: number): string {
    return `subscription already deleted older changes, min change id: ${min}`
  }

  function detach(sub: Sub, sink: EventSink): void {
    if (!sub.listeners.delete(sink)) return
    if (sub.listeners.size === 0) sub.idleSinceMs = now()
  }

  async function attach(id: string, sink: EventSink, a: AttachOptions = {}): Promise<void> {
    const sub = subs.get(id)
    if (!sub)
      throw new PatinaError('PATINA_ERR_SUBSCRIPTION_NOT_FOUND', `could not find subscription with id ${id}`)
    // Bring the stored rows up to date so the snapshot and the change ids agree.
    try {
      processSub(sub)
    } catch (err) {
      log.error({ err, sub: sub.id }, 'subscription maintenance failed')
    }
    const from = a.from ?? 0
    const last = sub.lastChangeId
    let source: Iterable<string> | AsyncIterable<string>
    if (from > 0) {
      if (from > last) {
        sink.fail(`change id ${from} is ahead of this subscription's last change id ${last}`)
        return
      }
      const min = store.minChangeId(sub.id)
      if (from < last && (min === null || min > from + 1)) {
        sink.fail(tooOld(min ?? last + 1))
        return
      }
      source = replay(sub, from, last)
    } else if (a.skipRows) {
      source = []
    } else {
      const snap = snapshotLines(sub)
      snap.lines.push(lines.eoq(snap.timeSec, last))
      source = snap.lines
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
    const hash = hashOf(stmt.sql, stmt.params)
    const existing = byHash.get(hash)
    if (existing) return { info: info(existing), created: false }
    if (o.mustExist) {
      throw new PatinaError(
        'PATINA_ERR_FROM_WITHOUT_SUBSCRIPTION',
        'a `from` query param was supplied, but no existing subscription found',
      )
    }
    const { plan, params } = planSubscription(stmt.sql, stmt.params, engine.schema())
    const sub = newSub(newId(), hash, plan, params)
    try {
      const cur = engine.query(plan.innerSql, params)
      sub.columns = cur.columns.slice(plan.hiddenCount).map((c) => c.name)
      const rows: StoredRow[] = []
      for (const row of cur.rows) {
        const r = splitRow(plan, row)
        if (sub.rows.has(r.key)) continue
        const entry = { rowid: sub.nextRowid++, cells: r.cells, tableKeys: r.tableKeys }
        indexAdd(sub, r.key, entry)
        rows.push({ rowid: entry.rowid, key: r.key, cells: r.cells })
      }
      store.create(
        {
          id: sub.id,
          sql: stmt.sql,
          params: encodeParams(stmt.params),
          hash,
          lastChangeId: 0,
          nextRowid: sub.nextRowid,
          createdAtMs: now(),
        },
        rows,
      )
    } catch (err) {
      if (err instanceof PatinaError && err.code !== 'PATINA_ERR_SQL' && err.code !== 'PATINA_ERR_INTERNAL')
        throw err
      // SQL errors in a subscription query are the client's (Corrosion answers 400).
      throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', (err as Error).message, { cause: err })
    }
    register(sub)
    log.info({ sub: sub.id, sql: plan.sql, rows: sub.rows.size }, 'created subscription')
    return { info: info(sub), created: true }
  }

  function watchTable(table: string, sink: EventSink): string {
    const model = engine.schema().tables.get(table)
    if (!model)
      throw new PatinaError(
        'PATINA_ERR_UNKNOWN_TABLE',
        `table ${JSON.stringify(table)} is not a table of the schema`,
      )
    if (model.pk.length === 0) {
      throw new PatinaError('PATINA_ERR_UNKNOWN_TABLE', `table ${JSON.stringify(table)} has no primary key`)
    }
    let w = watches.get(model.name)
    if (!w) watches.set(model.name, (w = { id: newId(), sinks: new Set() }))
    const watch = w
    watch.sinks.add(sink)
    sink.onClose(() => {
      watch.sinks.delete(sink)
      if (watch.sinks.size === 0 && watches.get(model.name) === watch) watches.delete(model.name)
    })
    return watch.id
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

  restore()
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
      return s ? info(s) : undefined
    },
    list: () => [...subs.values()].map(info),
    attach,
    watchTable,
    flush,
    gc,
    close() {
      if (closed) return
      closed = true
      clearInterval(timer)
      unsubscribe()
      for (const sub of subs.values()) for (const l of [...sub.listeners]) l.end()
      for (const w of watches.values()) for (const s of [...w.sinks]) s.end()
    },
  }
}

function splitKey(plan: QueryPlan, key: string): string[] {
  const vals = decodeKey(key)
  return plan.tables.map((t) => encodeKey(vals.slice(t.hiddenOffset, t.hiddenOffset + t.pk.length)))
}

interface HubMetrics {
  changes: { inc(n: number): void }
  process: { observe(v: number): void }
}

function createMetrics(
  registry: Registry | undefined,
  sample: () => { subs: number; listeners: number },
): HubMetrics {
  if (!registry) return { changes: { inc() {} }, process: { observe() {} } }
  const existing = registry.getSingleMetric('patina_subscription_changes_total')
  if (existing) {
    return {
      changes: existing as Counter,
      process: registry.getSingleMetric('patina_subscription_process_seconds') as Histogram,
    }
  }
  new Gauge({
    name: 'patina_subscriptions',
    help: 'Live subscriptions on this node',
    registers: [registry],
    collect() {
      this.set(sample().subs)
    },
  })
  new Gauge({
    name: 'patina_subscription_listeners',
    help: 'Open subscription streams on this node',
    registers: [registry],
    collect() {
      this.set(sample().listeners)
    },
  })
  return {
    changes: new Counter({
      name: 'patina_subscription_changes_total',
      help: 'Change events produced by subscriptions',
      registers: [registry],
    }),
    process: new Histogram({
      name: 'patina_subscription_process_seconds',
      help: 'Time of one incremental maintenance step of one subscription',
      registers: [registry],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    }),
  }
}
