import { PatinaError } from '@patina/api'
import type { SqlValue } from '@patina/api'
import type { Database as Db, Statement as DbStatement } from 'better-sqlite3'
import Database from 'better-sqlite3'
import { unpackPk } from '../crdt/pk.js'
import { decodeRowClock } from '../crdt/row-clock.js'
import { normalizeValue, valueSize } from '../crdt/values.js'
import { leadingKeyword } from '../schema/split.js'
import {
  SENTINEL,
  type ActorId,
  type ApplyResult,
  type Change,
  type Changeset,
  type CommitEvent,
  type EngineStats,
  type FullChangeset,
  type QueryCursor,
  type SchemaModel,
  type StateEngine,
  type Statement,
  type SyncState,
  type TransactionResult,
} from '../types.js'
import { RangeSet } from '../versions/range-set.js'
import { bufferedChunks } from './buffered.js'
import { Apply } from './apply.js'
import { Capture } from './capture.js'
import { bindParams, statementError } from './driver.js'
import { Writes } from './writes.js'
import { StoreContext, type StateEngineOptions } from './context.js'
import { decodeVersEntries } from './version-index.js'
import { clockTable, executePlan, parseSchema, planSchemaChange, q } from './schema-store.js'

export type { StateEngineOptions }

const READ_KEYWORDS = new Set(['SELECT', 'WITH', 'VALUES'])

export class StateStore implements StateEngine {
  readonly actorId: ActorId
  private readonly ctx: StoreContext
  private readonly listeners = new Set<(e: CommitEvent) => void>()
  private readonly capture: Capture
  private readonly writes: Writes
  private readonly applier: Apply

  constructor(opts: StateEngineOptions) {
    this.ctx = new StoreContext(opts)
    this.actorId = this.ctx.actorId
    this.capture = new Capture(this.ctx)
    this.writes = new Writes(this.ctx, this.capture)
    this.applier = new Apply(this.ctx)
    this.refreshSchema()
    if (opts.schema !== undefined) this.applySchema(opts.schema)
  }

  // ---------------------------------------------------------------- schema

  schema(): SchemaModel {
    return this.ctx.schema
  }

  applySchema(sql: string): { tablesCreated: string[]; columnsAdded: string[]; indexesChanged: string[] } {
    this.assertOpen()
    const next = parseSchema(sql)
    const plan = planSchemaChange(this.ctx.schema, next)
    this.ctx.db.transaction(() => executePlan(this.ctx.db, plan))()
    this.refreshSchema()
    return {
      tablesCreated: plan.newTables.map((t) => t.name),
      columnsAdded: plan.addColumns.flatMap((a) => a.columns.map((c) => `${a.table}.${c.name}`)),
      indexesChanged: [...plan.createIndexes, ...plan.dropIndexes].map((i) => i.name),
    }
  }

  private refreshSchema(): void {
    this.ctx.loadTables()
    this.writes.clearCache()
    this.applier.clearCache()
    this.capture.installTriggers()
  }

  // ---------------------------------------------------------------- sites & bookkeeping

  // ---------------------------------------------------------------- local writes

  transaction(statements: Statement[], opts: { timeoutMs?: number } = {}): TransactionResult {
    this.assertOpen()
    const { result, commit } = this.writes.run(statements, opts)
    if (commit.version !== null) {
      this.emit({
        source: 'local',
        rows: commit.rows,
        versions: [{ actorId: this.actorId, version: commit.version }],
        timestamps: [commit.ts],
      })
    }
    return result
  }

  // ---------------------------------------------------------------- reads

  query(sql: string, params?: Statement['params']): QueryCursor {
    this.assertOpen()
    const conn = this.ctx.readers?.acquire() ?? this.ctx.db
    const release = () => {
      if (conn !== this.ctx.db) this.ctx.readers?.release(conn)
    }
    let stmt: DbStatement
    try {
      stmt = conn.prepare(sql)
    } catch (err) {
      release()
      throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', (err as Error).message)
    }
    // Preparing has no effect; SQLite's syntax errors come first (as in Corrosion). ATTACH and
    // PRAGMA reads count as read-only for SQLite, so the leading keyword is checked too.
    const kw = leadingKeyword(sql)
    if (!stmt.readonly || !stmt.reader || !READ_KEYWORDS.has(kw)) {
      release()
      throw new PatinaError(
        'PATINA_ERR_NOT_READONLY',
        READ_KEYWORDS.has(kw) || !stmt.readonly
          ? 'statement is not readonly'
          : `statement is not readonly: ${kw} statements are not allowed in queries`,
      )
    }
    stmt.raw(true).safeIntegers(true)
    const columns = stmt.columns().map((c) => ({ name: c.name, table: c.table, column: c.column }))
    let iter: IterableIterator<unknown[]>
    try {
      iter = stmt.iterate(...bindParams(params)) as IterableIterator<unknown[]>
    } catch (err) {
      release()
      throw statementError(err)
    }
    function* rows(): Generator<SqlValue[]> {
      try {
        for (const r of iter) yield r.map(normalizeValue)
      } finally {
        iter.return?.()
        release()
      }
    }
    return { columns, rows: rows() }
  }

  tableStats(tables: string[]): { totalRowCount: number; invalidTables: string[] } {
    let total = 0
    const invalid: string[] = []
    for (const t of tables) {
      if (!this.ctx.tables.has(t)) {
        invalid.push(t)
        continue
      }
      total += (this.ctx.db.prepare(`SELECT count(*) AS n FROM ${q(t)}`).get() as { n: number }).n
    }
    return { totalRowCount: total, invalidTables: invalid }
  }

  stats(): EngineStats {
    let gaps = 0
    let partials = 0
    for (const [, b] of this.ctx.books.entries()) {
      gaps += b.gaps.count()
      partials += b.partials.size
    }
    return { gaps, partials, actors: this.ctx.books.size, version: this.ctx.dbVersion }
  }

  contains(actorId: ActorId, version: number): boolean {
    const ord = this.ctx.knownSiteOrd(actorId)
    if (ord === undefined) return false
    return this.ctx.books.find(ord)?.contains(version) ?? false
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

  // ---------------------------------------------------------------- remote apply

  apply(changesets: Changeset[]): ApplyResult {
    this.assertOpen()
    const { result, event } = this.applier.apply(changesets)
    if (event !== null) this.emit(event)
    return result
  }

  // ---------------------------------------------------------------- sync

  syncState(): SyncState {
    const state: SyncState = { actorId: this.actorId, heads: {}, need: {}, partialNeed: {} }
    for (const [site, b] of this.ctx.books.entries()) {
      const actor = this.ctx.actorOf(site)
      if (actor === undefined || b.head === 0) continue
      state.heads[actor] = b.head
      if (!b.gaps.isEmpty()) state.need[actor] = b.gaps.toArray()
      if (b.partials.size > 0) state.partialNeed[actor] = b.partialNeeds()
    }
    return state
  }

  *changesFor(theirs: SyncState, opts: { maxChunkBytes?: number } = {}): Generator<Changeset> {
    const maxBytes = opts.maxChunkBytes ?? this.ctx.maxChunkBytes
    for (const [site, b] of [...this.ctx.books.entries()]) {
      const actor = this.ctx.actorOf(site)
      if (actor === undefined || actor === theirs.actorId || b.head === 0) continue
      const want = new RangeSet()
      const theirHead = theirs.heads[actor] ?? 0
      if (b.head > theirHead) want.add(theirHead + 1, b.head)
      for (const [x, y] of theirs.need[actor] ?? []) want.add(x, Math.min(y, b.head))
      for (const v of Object.keys(theirs.partialNeed[actor] ?? {}))
        if (Number(v) <= b.head) want.add(Number(v), Number(v))
      for (const [x, y] of want.toArray()) {
        const lacking = RangeSet.from(b.needIn(x, y))
        for (const [a, e] of lacking.missing(x, y)) yield* this.serveRange(site, actor, a, e, maxBytes)
        for (const v of b.partials.keys()) {
          if (v < x || v > y) continue
          yield* bufferedChunks(this.ctx.stmts, site, v)
        }
      }
    }
  }

  /** Stream versions [a, b] of one actor from the version index, paging so no statement stays open across yields. */
  private *serveRange(
    site: number,
    actor: ActorId,
    a: number,
    b: number,
    maxBytes: number,
  ): Generator<Changeset> {
    const conn = this.ctx.readers?.acquire() ?? this.ctx.db
    const page = conn.prepare(
      `SELECT db_version, seq, ts, last_seq, entries FROM __patina_vers
       WHERE site = ? AND db_version BETWEEN ? AND ? AND (db_version > ? OR (db_version = ? AND seq > ?))
       ORDER BY db_version, seq LIMIT 16`,
    )
    // Versions below `nextVersion` have been answered (full or empty).
    let nextVersion = a
    let cur: FullChangeset | null = null
    let servedCur = false
    let bytes = 0
    let lastV = a - 1
    let lastSeq = -1
    const finishVersion = function* (): Generator<Changeset> {
      if (cur === null) return
      const done: FullChangeset = cur
      cur = null
      if (done.changes.length > 0) {
        done.seqEnd = done.lastSeq
        yield done
      } else if (!servedCur) {
        // Every row of this version was overwritten since: it is cleared.
        yield { kind: 'empty', actorId: actor, versions: [done.version, done.version] }
      } else {
        done.seqEnd = done.lastSeq
        yield done
      }
    }
    try {
      for (;;) {
        const groups = page.all(site, a, b, lastV, lastV, lastSeq) as {
          db_version: number
          seq: number
          ts: number
          last_seq: number
          entries: Buffer
        }[]
        if (groups.length === 0) break
        for (const g of groups) {
          lastV = g.db_version
          lastSeq = g.seq
          if (cur !== null && (cur as FullChangeset).version !== g.db_version) yield* finishVersion()
          if (cur === null) {
            if (g.db_version > nextVersion)
              yield { kind: 'empty', actorId: actor, versions: [nextVersion, g.db_version - 1] }
            nextVersion = g.db_version + 1
            cur = {
              kind: 'full',
              actorId: actor,
              version: g.db_version,
              ts: g.ts,
              seqStart: 0,
              seqEnd: g.last_seq,
              lastSeq: g.last_seq,
              changes: [],
            }
            servedCur = false
            bytes = 0
          }
          for (const e of decodeVersEntries(g.entries)) {
            const changes = this.rowChangesFor(conn, site, g.db_version, e.tbl, e.pk)
            if (changes.length === 0) continue
            const size = changes.reduce((n, c) => n + c.pk.length + c.cid.length + valueSize(c.val) + 16, 0)
            const open: FullChangeset = cur as FullChangeset
            if (open.changes.length > 0 && bytes + size > maxBytes) {
              open.seqEnd = e.seq - 1
              yield open
              servedCur = true
              cur = { ...open, seqStart: e.seq, seqEnd: open.lastSeq, changes: [] }
              bytes = 0
            }
            ;(cur as FullChangeset).changes.push(...changes)
            bytes += size
          }
        }
      }
      yield* finishVersion()
      if (nextVersion <= b) yield { kind: 'empty', actorId: actor, versions: [nextVersion, b] }
    } finally {
      if (conn !== this.ctx.db) this.ctx.readers?.release(conn)
    }
  }

  /** The live changes of one row that belong to version `dbv` of `site`, with current values. */
  private readonly connStmts = new WeakMap<Db, Map<string, DbStatement>>()

  /** A prepared statement cached per connection (sync serving runs many small lookups). */
  private connStmt(conn: Db, sql: string, rawSafe = false): DbStatement {
    let m = this.connStmts.get(conn)
    if (m === undefined) this.connStmts.set(conn, (m = new Map()))
    let st = m.get(sql)
    if (st === undefined) {
      st = conn.prepare(sql)
      if (rawSafe) st.raw(true).safeIntegers(true)
      m.set(sql, st)
    }
    return st
  }

  private rowChangesFor(conn: Db, site: number, dbv: number, tblOrd: number, pk: Buffer): Change[] {
    const rt = this.ctx.tablesByOrd.get(tblOrd)
    if (rt === undefined) return []
    const clockRow = this.connStmt(conn, `SELECT clock FROM ${clockTable(rt.model.name)} WHERE pk = ?`).get(
      pk,
    ) as { clock: Buffer } | undefined
    if (clockRow === undefined) return []
    const clock = decodeRowClock(clockRow.clock)
    const out: Change[] = []
    const table = rt.model.name
    if (clock.sentinel.site === site && clock.sentinel.dbv === dbv) {
      out.push({
        table,
        pk,
        cid: SENTINEL,
        val: null,
        colVersion: clock.cl,
        cl: clock.cl,
        seq: clock.sentinel.seq,
      })
    }
    let row: SqlValue[] | undefined
    for (const [cid, c] of clock.cols) {
      if (c.site !== site || c.dbv !== dbv) continue
      if (row === undefined) {
        const st = this.connStmt(
          conn,
          `SELECT ${rt.model.nonPk.map(q).join(', ')} FROM ${q(table)} WHERE ${rt.model.pk.map((p) => `${q(p)} = ?`).join(' AND ')}`,
          true,
        )
        row = ((st.get(...unpackPk(pk)) as unknown[] | undefined) ?? []).map(normalizeValue)
      }
      out.push({
        table,
        pk,
        cid,
        val: (row[rt.nonPkIndex.get(cid) as number] as SqlValue) ?? null,
        colVersion: c.v,
        cl: clock.cl,
        seq: c.seq,
      })
    }
    return out.sort((x, y) => x.seq - y.seq)
  }

  // ---------------------------------------------------------------- lifecycle

  async backup(path: string): Promise<void> {
    this.assertOpen()
    try {
      this.ctx.db.prepare(`VACUUM INTO ?`).run(path)
      const copy = new Database(path)
      try {
        copy.exec(`DELETE FROM __patina_meta WHERE key IN ('actor_id', 'db_version')`)
      } finally {
        copy.close()
      }
    } catch (err) {
      throw new PatinaError('PATINA_ERR_BACKUP', `backup to ${path} failed: ${(err as Error).message}`, {
        cause: err,
      })
    }
  }

  close(): void {
    this.ctx.close()
  }

  private assertOpen(): void {
    if (this.ctx.closed) throw new PatinaError('PATINA_ERR_CLOSED', 'the state engine is closed')
  }
}
