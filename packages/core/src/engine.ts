import { PatinaError, type SqlValue } from '@patina/api'
import type {
  ActorId,
  AsyncQueryCursor,
  AsyncQueryOptions,
  ApplyResult,
  Changeset,
  CommitEvent,
  EngineStats,
  GroupedTransaction,
  GroupOptions,
  GroupOutcome,
  QueryCursor,
  QueryOptions,
  RefusedVersion,
  RowChange,
  SchemaModel,
  StateEngine,
  Statement,
  SyncState,
  TransactionOptions,
  TransactionResult,
} from './types.js'
import { pkKey } from './crdt/pk.js'
import { clockExistingRows, tablesWithUnclockedRows } from './store/adopt.js'
import { Apply } from './store/apply.js'
import { backupTo } from './store/backup.js'
import { Capture, type LocalCommit } from './store/capture.js'
import { StoreContext, type StateEngineOptions } from './store/context.js'
import { guard, guardIter } from './store/driver.js'
import { ReadThreads } from './store/read-threads.js'
import { query, tableStats } from './store/reads.js'
import { executePlan, parseSchema, planSchemaChange } from './store/schema-store.js'
import { Serve } from './store/serve.js'
import { Writes } from './store/writes.js'

export type { StateEngineOptions }

/** Read threads of an engine on a file when `readThreads` is not given. */
const DEFAULT_READ_THREADS = 4

/** Open (or create) a state engine on a SQLite database. */
export function createStateEngine(opts: StateEngineOptions): StateEngine {
  return guard(() => new Engine(opts))
}

/**
 * The state engine as callers see it: a facade over the store's parts, which share one
 * `StoreContext`. It owns what spans them: the open/closed state, schema changes (which
 * re-prepare every part's statements), the commit listeners, and the rule that no driver error
 * leaves core untyped (every call runs under `guard`).
 *
 * Where things happen: local writes in `store/writes.ts` and `store/capture.ts`; remote
 * changesets in `store/apply.ts` with the row decision in `crdt/row-merge.ts`; sync in
 * `store/serve.ts`; reads in `store/reads.ts`; the per-actor books in `store/books.ts`.
 */
class Engine implements StateEngine {
  private readonly ctx: StoreContext
  private readonly capture: Capture
  private readonly writes: Writes
  private readonly applier: Apply
  private readonly server: Serve
  private readonly listeners = new Set<(e: CommitEvent) => void>()
  private readonly threads: ReadThreads | null

  constructor(opts: StateEngineOptions) {
    this.ctx = new StoreContext(opts)
    this.capture = new Capture(this.ctx)
    this.writes = new Writes(this.ctx, this.capture)
    this.applier = new Apply(this.ctx)
    this.server = new Serve(this.ctx)
    this.threads =
      opts.path === ':memory:'
        ? null
        : new ReadThreads({
            path: opts.path,
            actorId: () => this.ctx.actorId,
            dbVersion: () => this.ctx.dbVersion,
            threads: opts.readThreads ?? DEFAULT_READ_THREADS,
            cancel: (key) => {
              if (!this.ctx.closed) this.ctx.writer.deadline.cancel(key)
            },
          })
    this.refreshSchema()
    this.clockOldAdoptedRows()
    if (opts.schema !== undefined) this.applySchema(opts.schema)
  }

  /**
   * Once per database: rows adopted by a version of Patina that gave them no clock get one now
   * (one local version), so they replicate (see `store/adopt.ts`).
   */
  private clockOldAdoptedRows(): void {
    if (this.ctx.stmts.getMeta.get('rows_clocked') !== undefined) return
    const commit = this.ctx.db.transaction(() => {
      const tables = tablesWithUnclockedRows(this.ctx)
      const c = tables.length > 0 ? clockExistingRows(this.ctx, this.capture, tables, true) : null
      this.ctx.stmts.putMeta.run('rows_clocked', 1)
      return c
    })()
    this.emitLocal(commit)
  }

  get actorId(): ActorId {
    return this.ctx.actorId
  }

  get actorCreated(): boolean {
    return this.ctx.actorCreated
  }

  renewActor(): ActorId {
    this.assertOpen()
    return guard(() => this.ctx.renewActor())
  }

  schema(): SchemaModel {
    return this.ctx.schema
  }

  applySchema(sql: string): ReturnType<StateEngine['applySchema']> {
    this.assertOpen()
    return guard(() => {
      const plan = planSchemaChange(this.ctx.schema, parseSchema(sql))
      let adopted: string[] = []
      let commit: LocalCommit | null = null
      try {
        commit = this.ctx.db.transaction(() => {
          adopted = executePlan(this.ctx.db, plan).adopted
          this.refreshSchema()
          // Rows of an adopted table get clocks as one local version, in the same transaction.
          return adopted.length > 0 ? clockExistingRows(this.ctx, this.capture, adopted, false) : null
        })()
      } catch (err) {
        this.refreshSchema()
        throw err
      }
      // Versions refused for naming what this schema lacked may apply now.
      this.ctx.refused.retryAll()
      this.emitLocal(commit)
      return {
        tablesCreated: plan.newTables.map((t) => t.name),
        columnsAdded: plan.addColumns.flatMap((a) => a.columns.map((c) => `${a.table}.${c.name}`)),
        indexesChanged: [...plan.createIndexes, ...plan.dropIndexes].map((i) => i.name),
        tablesAdopted: adopted,
        version: commit?.version ?? null,
      }
    })
  }

  /** Tells the commit listeners about a local commit made outside `transaction` (adoption). */
  private emitLocal(commit: LocalCommit | null): void {
    if (commit === null || commit.version === null) return
    this.emit({
      source: 'local',
      rows: commit.rows,
      versions: [{ actorId: this.actorId, version: commit.version }],
      timestamps: [commit.ts],
    })
  }

  /** Re-reads the replicated tables and re-prepares what depends on them, triggers included. */
  private refreshSchema(): void {
    this.ctx.loadTables()
    this.writes.clearCache()
    this.applier.clearCache()
    this.capture.installTriggers()
  }

  transaction(statements: Statement[], opts: TransactionOptions = {}): TransactionResult {
    this.assertOpen()
    const { result, commit } = guard(() => this.writes.run(statements, opts))
    this.emitGroup(commit.version === null ? [] : [commit])
    return result
  }

  transactions(group: GroupedTransaction[], opts: GroupOptions = {}): GroupOutcome[] {
    this.assertOpen()
    const { outcomes, commits } = guard(() => this.writes.runGroup(group, opts))
    this.emitGroup(commits)
    return outcomes
  }

  /**
   * Tells the commit listeners about the local commits of one SQLite transaction (a group) as
   * one event: every version, each row once (its columns merged, its last state), and the
   * changesets in version order, which the agent publishes as one message.
   */
  private emitGroup(commits: LocalCommit[]): void {
    if (commits.length === 0) return
    if (commits.length === 1) {
      const c = commits[0] as LocalCommit
      this.emit({
        source: 'local',
        rows: c.rows,
        versions: [{ actorId: this.actorId, version: c.version as number }],
        timestamps: [c.ts],
        changesets: c.changesets,
      })
      return
    }
    const rows = new Map<string, RowChange>()
    for (const c of commits) {
      for (const r of c.rows) {
        const k = `${r.table}\u0000${pkKey(r.pk)}`
        const prev = rows.get(k)
        rows.set(k, prev === undefined ? r : { ...r, cids: [...new Set([...prev.cids, ...r.cids])] })
      }
    }
    this.emit({
      source: 'local',
      rows: [...rows.values()],
      versions: commits.map((c) => ({ actorId: this.actorId, version: c.version as number })),
      timestamps: commits.map((c) => c.ts),
      changesets: commits.flatMap((c) => c.changesets),
    })
  }

  query(sql: string, params?: Statement['params'], opts: QueryOptions = {}): QueryCursor {
    this.assertOpen()
    return guard(() => query(this.ctx, sql, params, opts))
  }

  async queryAsync(
    sql: string,
    params?: Statement['params'],
    opts: AsyncQueryOptions = {},
  ): Promise<AsyncQueryCursor> {
    this.assertOpen()
    if (this.threads !== null) return this.threads.query(sql, params, opts)
    // In memory: on this thread, all at once, under the deadline.
    const cur = guard(() => query(this.ctx, sql, params, opts))
    const rows = guard(() => [...cur.rows])
    async function* batches(): AsyncGenerator<SqlValue[][]> {
      if (rows.length > 0) yield rows
    }
    return { columns: cur.columns, batches: batches(), close: () => undefined }
  }

  readThreads(): { threads: number; busy: number; waiting: number } {
    return this.threads?.stats() ?? { threads: 0, busy: 0, waiting: 0 }
  }

  apply(changesets: Changeset[]): ApplyResult {
    this.assertOpen()
    const { result, event } = guard(() => this.applier.apply(changesets))
    if (event !== null) this.emit(event)
    return result
  }

  syncState(): SyncState {
    return this.server.syncState()
  }

  changesFor(theirs: SyncState, opts: { maxChunkBytes?: number } = {}): Generator<Changeset> {
    return guardIter(this.server.changesFor(theirs, opts))
  }

  contains(actorId: ActorId, version: number): boolean {
    const ord = this.ctx.knownSiteOrd(actorId)
    if (ord === undefined) return false
    return this.ctx.books.find(ord)?.contains(version) ?? false
  }

  containsThrough(actorId: ActorId, version: number): boolean {
    const ord = this.ctx.knownSiteOrd(actorId)
    if (ord === undefined) return false
    return this.ctx.books.find(ord)?.containsThrough(version) ?? false
  }

  refused(): RefusedVersion[] {
    return this.ctx.refused.list((site) => this.ctx.actorOf(site))
  }

  onCommit(listener: (e: CommitEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private emit(e: CommitEvent): void {
    for (const l of this.listeners) {
      try {
        l(e)
      } catch {
        // A listener's failure must not affect the write path or other listeners.
      }
    }
  }

  tableStats(tables: string[]): { totalRowCount: number; invalidTables: string[] } {
    return guard(() => tableStats(this.ctx, tables))
  }

  stats(): EngineStats {
    let gaps = 0
    let partials = 0
    for (const [, b] of this.ctx.books.entries()) {
      gaps += b.gaps.count()
      partials += b.partials.size
    }
    return {
      gaps,
      partials,
      actors: this.ctx.books.size,
      version: this.ctx.dbVersion,
      refused: this.ctx.refused.size,
    }
  }

  interrupts(): number {
    return this.ctx.interrupts + (this.threads?.interrupts ?? 0)
  }

  async backup(path: string): Promise<void> {
    this.assertOpen()
    backupTo(this.ctx.db, path)
  }

  close(): void {
    void this.threads?.close()
    guard(() => this.ctx.close())
  }

  private assertOpen(): void {
    if (this.ctx.closed) throw new PatinaError('PATINA_ERR_CLOSED', 'the state engine is closed')
  }
}
