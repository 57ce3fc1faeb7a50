import { PatinaError } from '@patina/api'
import type { SqlValue } from '@patina/api'
import type { Database as Db, Statement as DbStatement } from 'better-sqlite3'
import Database from 'better-sqlite3'
import { isAlive, remoteCellWins } from '../crdt/merge.js'
import { pkKey, unpackPk } from '../crdt/pk.js'
import { decodeRowClock, encodeRowClock, liveRefs, refKey, type RowClock } from '../crdt/row-clock.js'
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
  type RowChange,
  type SchemaModel,
  type StateEngine,
  type Statement,
  type SyncState,
  type TransactionResult,
} from '../types.js'
import { RangeSet } from '../versions/range-set.js'
import { bufferChunk, bufferedChunks, dropBuffered } from './buffered.js'
import { Capture } from './capture.js'
import { bindParams, statementError } from './driver.js'
import { Writes } from './writes.js'
import { StoreContext, type StateEngineOptions, type TableRuntime } from './context.js'
import { decodeVersEntries, retireRefs, VersGroups } from './version-index.js'
import { clockTable, executePlan, parseSchema, planSchemaChange, q } from './schema-store.js'

export type { StateEngineOptions }

const READ_KEYWORDS = new Set(['SELECT', 'WITH', 'VALUES'])

export class StateStore implements StateEngine {
  readonly actorId: ActorId
  private readonly ctx: StoreContext
  private readonly listeners = new Set<(e: CommitEvent) => void>()
  private readonly capture: Capture
  private readonly writes: Writes
  private readonly dynCache = new Map<string, DbStatement>()

  constructor(opts: StateEngineOptions) {
    this.ctx = new StoreContext(opts)
    this.actorId = this.ctx.actorId
    this.capture = new Capture(this.ctx)
    this.writes = new Writes(this.ctx, this.capture)
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
    this.dynCache.clear()
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
    const result: ApplyResult = { applied: 0, ignored: 0, versions: [], buffered: 0 }
    const rows = new Map<string, RowChange>()
    const timestamps: number[] = []
    const edit = this.ctx.books.edit()
    try {
      this.ctx.db.transaction(() => {
        for (const cs of changesets) {
          if (cs.actorId === this.actorId) {
            result.ignored += cs.kind === 'full' ? cs.changes.length : 0
            continue
          }
          const site = this.ctx.siteOrd(cs.actorId)
          const b = this.ctx.books.get(site)
          if (cs.kind === 'empty') {
            const [a, e] = cs.versions
            if (b.needIn(a, e).length === 0) continue
            edit.open(site)
            for (const v of b.partials.keys()) if (v >= a && v <= e) edit.touchPartial(site, v)
            dropBuffered(this.ctx.stmts, site, a, e)
            for (const [x, y] of b.needIn(a, e))
              for (let v = x; v <= y && v - x < 100_000; v++)
                result.versions.push({ actorId: cs.actorId, version: v })
            b.markComplete(a, e)
            continue
          }
          if (b.containsSeqs(cs.version, cs.seqStart, cs.seqEnd)) {
            result.ignored += cs.changes.length
            continue
          }
          this.checkKnown(cs)
          this.ctx.hlc.observe(cs.ts)
          edit.open(site)
          if (cs.seqStart === 0 && cs.seqEnd === cs.lastSeq) {
            // A chunk covering the whole version supersedes anything buffered for it.
            this.mergeChanges(site, cs, result, rows)
            if (b.partials.has(cs.version)) {
              dropBuffered(this.ctx.stmts, site, cs.version, cs.version)
              edit.touchPartial(site, cs.version)
            }
            b.markComplete(cs.version)
          } else {
            bufferChunk(this.ctx.stmts, site, cs)
            edit.touchPartial(site, cs.version)
            result.buffered++
            if (!b.markPartial(cs.version, cs.seqStart, cs.seqEnd, cs.lastSeq, cs.ts)) continue
            for (const ch of bufferedChunks(this.ctx.stmts, site, cs.version))
              this.mergeChanges(site, ch, result, rows)
            dropBuffered(this.ctx.stmts, site, cs.version, cs.version)
            b.markComplete(cs.version)
          }
          result.versions.push({ actorId: cs.actorId, version: cs.version })
          timestamps.push(cs.ts)
        }
        edit.persist()
      })()
    } catch (err) {
      // Roll the in-memory bookkeeping back to what the rolled-back transaction left.
      edit.rollback()
      throw err
    }
    if (rows.size > 0 || result.versions.length > 0) {
      this.emit({ source: 'remote', rows: [...rows.values()], versions: result.versions, timestamps })
    }
    return result
  }

  /** Refuse a changeset naming tables or columns this node's schema does not have (retried later by sync). */
  private checkKnown(cs: FullChangeset): void {
    for (const c of cs.changes) {
      const rt = this.ctx.tables.get(c.table)
      if (rt === undefined) {
        throw new PatinaError(
          'PATINA_ERR_UNKNOWN_TABLE',
          `changeset ${cs.actorId}@${cs.version} names unknown table "${c.table}"`,
        )
      }
      if (c.cid !== SENTINEL && !rt.nonPkIndex.has(c.cid)) {
        throw new PatinaError(
          'PATINA_ERR_CHANGESET_INVALID',
          `changeset ${cs.actorId}@${cs.version} names unknown column "${c.table}"."${c.cid}"`,
        )
      }
      if (c.pk[0] !== rt.model.pk.length || unpackPk(c.pk).includes(null)) {
        throw new PatinaError(
          'PATINA_ERR_CHANGESET_INVALID',
          `changeset ${cs.actorId}@${cs.version}: primary key of "${c.table}" has the wrong arity or a NULL value`,
        )
      }
    }
  }

  /** Merge the changes of one complete chunk; changes of one row are contiguous and in seq order. */
  private mergeChanges(
    site: number,
    cs: FullChangeset,
    result: ApplyResult,
    rows: Map<string, RowChange>,
  ): void {
    const changes = cs.changes
    const vers = new VersGroups(site, cs.version)
    let i = 0
    while (i < changes.length) {
      const first = changes[i] as Change
      let j = i + 1
      while (
        j < changes.length &&
        (changes[j] as Change).table === first.table &&
        Buffer.compare((changes[j] as Change).pk, first.pk) === 0
      )
        j++
      this.mergeRow(site, cs, changes.slice(i, j), result, rows, vers)
      i = j
    }
    vers.flush(this.ctx.stmts.insVers, cs.ts, cs.lastSeq)
  }

  private mergeRow(
    site: number,
    cs: FullChangeset,
    group: Change[],
    result: ApplyResult,
    rows: Map<string, RowChange>,
    vers: VersGroups,
  ): void {
    const first = group[0] as Change
    const rt = this.ctx.tables.get(first.table) as TableRuntime
    const pk = first.pk
    const existing = rt.getClock.get(pk) as { cl: number; clock: Buffer } | undefined
    const clock: RowClock = existing
      ? decodeRowClock(existing.clock)
      : { cl: 0, sentinel: { site: 0, dbv: 0, seq: 0 }, cols: new Map(), refs: new Map() }
    const oldRefs = liveRefs(clock)
    const wasAlive = isAlive(clock.cl)
    let reset = false
    const winners = new Map<string, SqlValue>()
    let localRow: SqlValue[] | null | undefined
    const actor = this.actorId
    const siteName = (ord: number) => (ord === this.ctx.selfOrd ? actor : (this.ctx.actorOf(ord) ?? ''))
    let won = 0
    let minSeq = Infinity
    for (const c of group) {
      if (c.cl < clock.cl) {
        result.ignored++
        continue
      }
      if (c.cl > clock.cl) {
        clock.cl = c.cl
        // A column change can reveal a newer life before its sentinel arrives; the
        // sentinel's origin stays unknown (site 0) until the sentinel change itself comes.
        clock.sentinel =
          c.cid === SENTINEL ? { site, dbv: cs.version, seq: c.seq } : { site: 0, dbv: 0, seq: 0 }
        clock.cols.clear()
        winners.clear()
        reset = true
        won++
        minSeq = Math.min(minSeq, c.seq)
        if (c.cid === SENTINEL) continue
      } else if (c.cid === SENTINEL) {
        if (clock.sentinel.site === 0) {
          clock.sentinel = { site, dbv: cs.version, seq: c.seq }
          won++
          minSeq = Math.min(minSeq, c.seq)
        } else result.ignored++
        continue
      }
      const local = clock.cols.get(c.cid)
      let localVal: SqlValue = null
      if (local !== undefined) {
        if (winners.has(c.cid)) localVal = winners.get(c.cid) as SqlValue
        else {
          if (localRow === undefined) {
            const r = rt.selectRow.get(...unpackPk(pk)) as unknown[] | undefined
            localRow = r === undefined ? null : r.map(normalizeValue)
          }
          localVal =
            localRow === null ? null : ((localRow[rt.nonPkIndex.get(c.cid) as number] as SqlValue) ?? null)
        }
      }
      const wins = remoteCellWins(
        local === undefined
          ? undefined
          : { colVersion: local.v, value: localVal, site: siteName(local.site) },
        { colVersion: c.colVersion, value: c.val, site: cs.actorId },
      )
      if (!wins) {
        result.ignored++
        continue
      }
      clock.cols.set(c.cid, { v: c.colVersion, site, dbv: cs.version, seq: c.seq })
      winners.set(c.cid, c.val)
      won++
      minSeq = Math.min(minSeq, c.seq)
    }
    if (won === 0) return
    result.applied += won
    const pkValues = unpackPk(pk)
    const alive = isAlive(clock.cl)
    if (!alive) {
      if (wasAlive) rt.deleteRow.run(...pkValues)
    } else if (reset) {
      const cols = [...winners.keys()]
      this.dyn(rt, 'replace', cols).run(...pkValues, ...cols.map((c) => winners.get(c) as SqlValue))
    } else if (winners.size > 0) {
      const cols = [...winners.keys()]
      this.dyn(rt, 'update', cols).run(...cols.map((c) => winners.get(c) as SqlValue), ...pkValues)
    }
    const key = refKey(site, cs.version)
    retireRefs(this.ctx.stmts, clock, oldRefs)
    if (!clock.refs.has(key)) clock.refs.set(key, vers.add(rt.ord, pk, minSeq))
    rt.putClock.run(pk, clock.cl, encodeRowClock(clock))
    const rk = `${rt.ord}:${pkKey(pk)}`
    const prev = rows.get(rk)
    const cids = new Set(prev?.cids ?? [])
    if (reset || alive !== wasAlive) cids.add(SENTINEL)
    for (const c of winners.keys()) cids.add(c)
    rows.set(rk, { table: rt.model.name, pk, pkValues, cids: [...cids], deleted: !alive })
  }

  private dyn(rt: TableRuntime, kind: 'replace' | 'update', cols: string[]): DbStatement {
    const key = `${rt.model.name}\u0000${kind}\u0000${cols.join('\u0000')}`
    let st = this.dynCache.get(key)
    if (st === undefined) {
      const t = q(rt.model.name)
      if (kind === 'replace') {
        const all = [...rt.model.pk, ...cols]
        st = this.ctx.db.prepare(
          `INSERT OR REPLACE INTO ${t} (${all.map(q).join(', ')}) VALUES (${all.map(() => '?').join(', ')})`,
        )
      } else {
        st = this.ctx.db.prepare(
          `UPDATE ${t} SET ${cols.map((c) => `${q(c)} = ?`).join(', ')} WHERE ${rt.model.pk.map((c) => `${q(c)} = ?`).join(' AND ')}`,
        )
      }
      this.dynCache.set(key, st)
    }
    return st
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
