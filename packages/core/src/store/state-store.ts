import { randomUUID } from 'node:crypto'
import { PatinaError } from '@patina/api'
import type { SqlValue } from '@patina/api'
import type { Database as Db, Statement as DbStatement } from 'better-sqlite3'
import Database from 'better-sqlite3'
import { createHlc, type Clock, type Hlc } from '../clock.js'
import { changesetFromWire, changesetToWire } from '../codec/changeset.js'
import { DEFAULT_CHUNK_BYTES } from '../codec/limits.js'
import { Packr } from 'msgpackr'
import { isAlive, remoteCellWins } from '../crdt/merge.js'
import { packPk, pkKey, unpackPk } from '../crdt/pk.js'
import {
  decodeRowClock,
  encodeFreshRowClock,
  encodeRowClock,
  liveRefs,
  refKey,
  type RowClock,
} from '../crdt/row-clock.js'
import { exactValue, normalizeValue, valuesEqual, valueSize } from '../crdt/values.js'
import { isLocalTable, validateLocalTables } from '../schema/local.js'
import { installCompat } from './compat.js'
import { bindPositional } from '../schema/params.js'
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
  type QueryOptions,
  type Range,
  type RowChange,
  type SchemaModel,
  type StateEngine,
  type Statement,
  type SyncState,
  type TableModel,
  type TransactionResult,
} from '../types.js'
import { BookedVersions } from '../versions/booked-versions.js'
import { RangeSet } from '../versions/range-set.js'
import { openWriter, ReaderPool } from './db.js'
import { clockTable, executePlan, loadSchema, parseSchema, planSchemaChange, q } from './schema-store.js'

export interface StateEngineOptions {
  /** SQLite database path, or ':memory:' (tests only: reads then share the writer). */
  path: string
  /** Schema SQL applied at open (additive). */
  schema?: string
  clock?: Clock
  /** Target changeset chunk size in bytes. */
  maxChunkBytes?: number
  /** Writer page cache in KiB. */
  cacheSizeKib?: number
  /**
   * Non-replicated tables client transactions may write (names; a trailing `*` matches a
   * prefix), created outside the schema files. See `schema/local.ts`.
   */
  localTables?: string[]
}

interface Touch {
  /** Packed key, computed at commit. */
  pk: Uint8Array | null
  pkValues: SqlValue[]
  before: SqlValue[] | null
  beforeKnown: boolean
  after: SqlValue[] | null
}

interface TableRt {
  model: TableModel
  ord: number
  nonPkIndex: Map<string, number>
  /** SENTINEL then every non-key column: the cids of a created row (shared, never mutated). */
  allCids: string[]
  getClock: DbStatement
  insClock: DbStatement
  putClock: DbStatement
  delClock: DbStatement
  selectRow: DbStatement
  deleteRow: DbStatement
}

/** Prepared write statements kept for reuse, and the longest SQL text that is cached. */
const MAX_CACHED_STATEMENTS = 256
const MAX_CACHED_SQL_CHARS = 4096

const WRITE_KEYWORDS = new Set(['INSERT', 'REPLACE', 'UPDATE', 'DELETE', 'SELECT', 'WITH', 'VALUES'])
const READ_KEYWORDS = new Set(['SELECT', 'WITH', 'VALUES'])
const bufferPackr = new Packr({ useRecords: false, int64AsType: 'auto' as 'bigint', moreTypes: false })

const toBindable = (v: SqlValue): unknown => v

/**
 * better-sqlite3 arguments for a statement's parameters: an array binds by position (numbered
 * `?NNN` and named parameters included, as Corrosion binds it), an object by name.
 */
function bindParams(sql: string, params: Statement['params']): unknown[] {
  if (params === undefined) return bindPositional(sql, [])
  if (Array.isArray(params)) return bindPositional(sql, params.map(toBindable))
  const named: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(params)) named[/^[:@$]/.test(k) ? k.slice(1) : k] = toBindable(v)
  return [named]
}

const sqlError = (err: unknown, where: string): PatinaError => {
  if (err instanceof PatinaError) return err
  return new PatinaError('PATINA_ERR_SQL', `${where}${(err as Error).message}`, { cause: err })
}

export class StateStore implements StateEngine {
  readonly actorId: ActorId
  private readonly db: Db
  private readonly readers: ReaderPool | null
  private readonly hlc: Hlc
  private readonly maxChunkBytes: number
  private readonly localTables: string[]
  private schemaModel: SchemaModel = { tables: new Map() }
  private tables = new Map<string, TableRt>()
  private tablesByOrd = new Map<number, TableRt>()
  private readonly selfOrd: number
  private dbVersion: number
  private readonly sites = new Map<number, ActorId>()
  private readonly siteOrds = new Map<ActorId, number>()
  private readonly booked = new Map<number, BookedVersions>()
  private readonly listeners = new Set<(e: CommitEvent) => void>()
  private capturing = false
  /** Set when a captured integer may have lost precision: values are then re-read exactly at commit. */
  private inexact = false
  private touches = new Map<number, Map<string | number, Touch>>()
  private readonly stmtCache = new Map<string, { stmt: DbStatement; writes: string[] }>()
  private readonly dynCache = new Map<string, DbStatement>()
  private rootPages = new Map<number, string>()
  private closed = false
  private readonly s: Record<string, DbStatement>

  constructor(opts: StateEngineOptions) {
    this.db = openWriter(
      opts.path,
      opts.cacheSizeKib === undefined ? {} : { cacheSizeKib: opts.cacheSizeKib },
    )
    const compat = { actorId: '', dbVersion: () => this.dbVersion }
    this.readers =
      opts.path === ':memory:' ? null : new ReaderPool(opts.path, 8, (db) => installCompat(db, compat))
    this.hlc = createHlc(opts.clock)
    this.maxChunkBytes = opts.maxChunkBytes ?? DEFAULT_CHUNK_BYTES
    validateLocalTables(opts.localTables ?? [])
    this.localTables = [...(opts.localTables ?? [])]
    const db = this.db
    this.s = {
      getMeta: db.prepare(`SELECT value FROM __patina_meta WHERE key = ?`),
      putMeta: db.prepare(
        `INSERT INTO __patina_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      ),
      insSite: db.prepare(`INSERT INTO __patina_sites (actor_id) VALUES (?)`),
      putHead: db.prepare(
        `INSERT INTO __patina_heads (site, head) VALUES (?, ?) ON CONFLICT (site) DO UPDATE SET head = excluded.head`,
      ),
      delGaps: db.prepare(`DELETE FROM __patina_gaps WHERE site = ?`),
      insGap: db.prepare(`INSERT INTO __patina_gaps (site, start, "end") VALUES (?, ?, ?)`),
      putPartial: db.prepare(
        `INSERT INTO __patina_partials (site, db_version, last_seq, ts, seqs) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (site, db_version) DO UPDATE SET seqs = excluded.seqs`,
      ),
      delPartial: db.prepare(`DELETE FROM __patina_partials WHERE site = ? AND db_version = ?`),
      insBuffered: db.prepare(
        `INSERT OR IGNORE INTO __patina_buffered (site, db_version, seq_start, seq_end, data) VALUES (?, ?, ?, ?, ?)`,
      ),
      getBuffered: db.prepare(
        `SELECT data FROM __patina_buffered WHERE site = ? AND db_version = ? ORDER BY seq_start, seq_end`,
      ),
      delBuffered: db.prepare(`DELETE FROM __patina_buffered WHERE site = ? AND db_version BETWEEN ? AND ?`),
      insVers: db.prepare(
        `INSERT INTO __patina_vers (site, db_version, seq, ts, last_seq, live, entries) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      decVers: db.prepare(
        `UPDATE __patina_vers SET live = live - 1 WHERE site = ? AND db_version = ? AND seq = ? RETURNING live`,
      ),
      delVers: db.prepare(`DELETE FROM __patina_vers WHERE site = ? AND db_version = ? AND seq = ?`),
    }
    this.registerFunctions()

    // Identity: an actor id persisted in the database (a restored backup gets a new one).
    let actor = (this.s['getMeta'] as DbStatement).get('actor_id') as { value: string } | undefined
    if (actor === undefined) {
      actor = { value: randomUUID() }
      this.db.transaction(() => {
        ;(this.s['putMeta'] as DbStatement).run('actor_id', actor!.value)
        ;(this.s['putMeta'] as DbStatement).run('db_version', 0)
      })()
    }
    this.actorId = actor.value
    for (const r of db.prepare(`SELECT ord, actor_id FROM __patina_sites`).all() as {
      ord: number
      actor_id: string
    }[]) {
      this.sites.set(r.ord, r.actor_id)
      this.siteOrds.set(r.actor_id, r.ord)
    }
    this.selfOrd = this.siteOrd(this.actorId)
    this.dbVersion = Number(
      ((this.s['getMeta'] as DbStatement).get('db_version') as { value: number } | undefined)?.value ?? 0,
    )
    compat.actorId = this.actorId
    installCompat(this.db, compat)
    this.loadBookkeeping()
    this.refreshSchema()
    if (opts.schema !== undefined) this.applySchema(opts.schema)
  }

  // ---------------------------------------------------------------- schema

  schema(): SchemaModel {
    return this.schemaModel
  }

  applySchema(sql: string): { tablesCreated: string[]; columnsAdded: string[]; indexesChanged: string[] } {
    this.assertOpen()
    const next = parseSchema(sql)
    const plan = planSchemaChange(this.schemaModel, next)
    this.db.transaction(() => executePlan(this.db, plan))()
    this.refreshSchema()
    return {
      tablesCreated: plan.newTables.map((t) => t.name),
      columnsAdded: plan.addColumns.flatMap((a) => a.columns.map((c) => `${a.table}.${c.name}`)),
      indexesChanged: [...plan.createIndexes, ...plan.dropIndexes].map((i) => i.name),
    }
  }

  private refreshSchema(): void {
    this.schemaModel = loadSchema(this.db)
    this.tables.clear()
    this.tablesByOrd.clear()
    this.stmtCache.clear()
    this.dynCache.clear()
    const ords = new Map(
      (this.db.prepare(`SELECT ord, name FROM __patina_tables`).all() as { ord: number; name: string }[]).map(
        (r) => [r.name, r.ord],
      ),
    )
    for (const model of this.schemaModel.tables.values()) {
      const ord = ords.get(model.name) as number
      const where = model.pk.map((c) => `${q(c)} = ?`).join(' AND ')
      const rt: TableRt = {
        model,
        ord,
        nonPkIndex: new Map(model.nonPk.map((c, i) => [c, i])),
        allCids: [SENTINEL, ...model.nonPk],
        getClock: this.db.prepare(`SELECT cl, clock FROM ${clockTable(model.name)} WHERE pk = ?`),
        insClock: this.db.prepare(
          `INSERT OR IGNORE INTO ${clockTable(model.name)} (pk, cl, clock) VALUES (?, ?, ?)`,
        ),
        putClock: this.db.prepare(
          `INSERT INTO ${clockTable(model.name)} (pk, cl, clock) VALUES (?, ?, ?) ON CONFLICT (pk) DO UPDATE SET cl = excluded.cl, clock = excluded.clock`,
        ),
        delClock: this.db.prepare(`DELETE FROM ${clockTable(model.name)} WHERE pk = ?`),
        selectRow: this.db.prepare(
          `SELECT ${model.nonPk.length ? model.nonPk.map(q).join(', ') : '1'} FROM ${q(model.name)} WHERE ${where}`,
        ),
        deleteRow: this.db.prepare(`DELETE FROM ${q(model.name)} WHERE ${where}`),
      }
      rt.selectRow.raw(true).safeIntegers(true)
      this.tables.set(model.name, rt)
      this.tablesByOrd.set(ord, rt)
      this.installTriggers(rt)
    }
    this.loadRootPages()
  }

  private loadRootPages(): void {
    this.rootPages = new Map(
      (
        this.db.prepare(`SELECT rootpage, tbl_name FROM sqlite_schema WHERE rootpage > 0`).all() as {
          rootpage: number
          tbl_name: string
        }[]
      ).map((r) => [r.rootpage, r.tbl_name]),
    )
  }

  /**
   * Capture triggers (TEMP: they live on the writer connection only). They pass the old
   * and new values to JS, which keeps the net effect per row of the current transaction.
   */
  private installTriggers(rt: TableRt): void {
    const m = rt.model
    const name = m.name
    const cols = (prefix: string, list: string[]) => list.map((c) => `${prefix}.${q(c)}`).join(', ')
    const pkN = cols('NEW', m.pk)
    const pkO = cols('OLD', m.pk)
    const vN = m.nonPk.length ? `, ${cols('NEW', m.nonPk)}` : ''
    const vO = m.nonPk.length ? `, ${cols('OLD', m.nonPk)}` : ''
    const t = (kind: string) => q(`__patina_${kind}_${name}`)
    this.db.exec(`
      DROP TRIGGER IF EXISTS temp.${t('ins')}; DROP TRIGGER IF EXISTS temp.${t('upd')}; DROP TRIGGER IF EXISTS temp.${t('del')};
      CREATE TEMP TRIGGER ${t('ins')} AFTER INSERT ON main.${q(name)} BEGIN SELECT __patina_capture(${rt.ord}, 1, ${pkN}${vN}); END;
      CREATE TEMP TRIGGER ${t('upd')} AFTER UPDATE ON main.${q(name)} BEGIN SELECT __patina_capture(${rt.ord}, 2, ${pkO}${vO}, ${pkN}${vN}); END;
      CREATE TEMP TRIGGER ${t('del')} AFTER DELETE ON main.${q(name)} BEGIN SELECT __patina_capture(${rt.ord}, 3, ${pkO}${vO}); END;
    `)
  }

  private registerFunctions(): void {
    this.db.function(
      '__patina_capture',
      { varargs: true, deterministic: false, safeIntegers: false },
      (...args: unknown[]) => {
        if (!this.capturing) return null
        const rt = this.tablesByOrd.get(Number(args[0]))
        if (rt === undefined) return null
        const kind = Number(args[1])
        const np = rt.model.pk.length
        const nv = rt.model.nonPk.length
        const take = (from: number, n: number): SqlValue[] => this.takeArgs(args, from, n)
        if (kind === 1) this.touchWrite(rt, take(2, np), take(2 + np, nv), 'insert')
        else if (kind === 3) this.touchWrite(rt, take(2, np), take(2 + np, nv), 'delete')
        else {
          const oldPk = take(2, np)
          const oldV = take(2 + np, nv)
          const newPk = take(2 + np + nv, np)
          const newV = take(2 + 2 * np + nv, nv)
          if (oldPk.every((v, i) => valuesEqual(v, newPk[i] as SqlValue)))
            this.touchWrite(rt, newPk, newV, 'update', oldV)
          else {
            this.touchWrite(rt, oldPk, oldV, 'delete')
            this.touchWrite(rt, newPk, newV, 'insert')
          }
        }
        return null
      },
    )
  }

  /**
   * Captured values: integers arrive as doubles (no BigInt allocation per value); one beyond
   * 2^53 may have lost precision, so such rows are re-read exactly at commit.
   */
  private takeArgs(args: unknown[], from: number, n: number): SqlValue[] {
    const out = new Array<SqlValue>(n)
    for (let i = 0; i < n; i++) {
      const v = args[from + i] as SqlValue
      if (typeof v === 'number' && !Number.isSafeInteger(v) && Number.isInteger(v)) this.inexact = true
      out[i] = v === undefined ? null : v
    }
    return out
  }

  private refuseNullKey(rt: TableRt, pkValues: SqlValue[]): void {
    const i = pkValues.indexOf(null)
    if (i >= 0) {
      throw new PatinaError(
        'PATINA_ERR_STATEMENT_REFUSED',
        `table "${rt.model.name}": primary key column "${rt.model.pk[i]}" cannot be NULL`,
      )
    }
  }

  private touchWrite(
    rt: TableRt,
    pkValues: SqlValue[],
    vals: SqlValue[],
    op: 'insert' | 'update' | 'delete',
    oldV?: SqlValue[],
  ): void {
    if (op !== 'delete') this.refuseNullKey(rt, pkValues)
    const key = touchKey(pkValues)
    let m = this.touches.get(rt.ord)
    if (m === undefined) this.touches.set(rt.ord, (m = new Map()))
    const t = m.get(key)
    if (t === undefined) {
      if (op === 'insert') m.set(key, { pk: null, pkValues, before: null, beforeKnown: false, after: vals })
      else if (op === 'delete')
        m.set(key, { pk: null, pkValues, before: vals, beforeKnown: true, after: null })
      else m.set(key, { pk: null, pkValues, before: oldV ?? null, beforeKnown: true, after: vals })
    } else {
      t.after = op === 'delete' ? null : vals
    }
  }

  // ---------------------------------------------------------------- sites & bookkeeping

  private siteOrd(actorId: ActorId): number {
    let ord = this.siteOrds.get(actorId)
    if (ord === undefined) {
      ord = Number((this.s['insSite'] as DbStatement).run(actorId).lastInsertRowid)
      this.sites.set(ord, actorId)
      this.siteOrds.set(actorId, ord)
    }
    return ord
  }

  private bookedFor(site: number): BookedVersions {
    let b = this.booked.get(site)
    if (b === undefined) this.booked.set(site, (b = new BookedVersions()))
    return b
  }

  private loadBookkeeping(): void {
    for (const r of this.db.prepare(`SELECT site, head FROM __patina_heads`).all() as {
      site: number
      head: number
    }[]) {
      this.bookedFor(r.site).head = r.head
    }
    for (const r of this.db.prepare(`SELECT site, start, "end" AS e FROM __patina_gaps`).all() as {
      site: number
      start: number
      e: number
    }[]) {
      this.bookedFor(r.site).gaps.add(r.start, r.e)
    }
    for (const r of this.db.prepare(`SELECT * FROM __patina_partials`).all() as {
      site: number
      db_version: number
      last_seq: number
      ts: number
      seqs: string
    }[]) {
      this.bookedFor(r.site).partials.set(r.db_version, {
        seqs: RangeSet.from(JSON.parse(r.seqs) as Range[]),
        lastSeq: r.last_seq,
        ts: r.ts,
      })
    }
    const self = this.bookedFor(this.selfOrd)
    self.head = Math.max(self.head, this.dbVersion)
  }

  private persistBooked(site: number, b: BookedVersions, partialsTouched: Iterable<number>): void {
    ;(this.s['putHead'] as DbStatement).run(site, b.head)
    ;(this.s['delGaps'] as DbStatement).run(site)
    for (const [a, e] of b.gaps.toArray()) (this.s['insGap'] as DbStatement).run(site, a, e)
    for (const v of partialsTouched) {
      const p = b.partials.get(v)
      if (p === undefined) (this.s['delPartial'] as DbStatement).run(site, v)
      else
        (this.s['putPartial'] as DbStatement).run(site, v, p.lastSeq, p.ts, JSON.stringify(p.seqs.toArray()))
    }
  }

  // ---------------------------------------------------------------- local writes

  transaction(statements: Statement[], opts: { timeoutMs?: number } = {}): TransactionResult {
    this.assertOpen()
    if (statements.length === 0) {
      throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', 'at least 1 statement is required')
    }
    const started = performance.now()
    const deadline = opts.timeoutMs === undefined ? Infinity : started + opts.timeoutMs
    const prepared = statements.map((st, i) => this.prepareWrite(st, i))
    const results: { rowsAffected: number; time: number }[] = []
    let committed:
      { version: number | null; changesets: FullChangeset[]; rows: RowChange[]; ts: number } | undefined
    this.touches.clear()
    this.inexact = false
    this.capturing = true
    try {
      this.db
        .transaction(() => {
          prepared.forEach((stmt, i) => {
            if (performance.now() > deadline) {
              throw new PatinaError(
                'PATINA_ERR_TIMEOUT',
                `transaction timed out after ${opts.timeoutMs} ms (before statement ${i})`,
              )
            }
            const t0 = performance.now()
            let rowsAffected: number
            try {
              const args = bindParams((statements[i] as Statement).sql, (statements[i] as Statement).params)
              if (stmt.reader) rowsAffected = stmt.all(...args).length
              else rowsAffected = stmt.run(...args).changes
            } catch (err) {
              throw sqlError(err, statements.length > 1 ? `statement ${i}: ` : '')
            }
            results.push({ rowsAffected, time: (performance.now() - t0) / 1000 })
          })
          this.capturing = false
          committed = this.commitLocal()
        })
        .immediate()
    } finally {
      this.capturing = false
      this.touches.clear()
    }
    const c = committed as NonNullable<typeof committed>
    if (c.version !== null) {
      this.emit({
        source: 'local',
        rows: c.rows,
        versions: [{ actorId: this.actorId, version: c.version }],
        timestamps: [c.ts],
      })
    }
    return {
      results,
      version: c.version,
      actorId: this.actorId,
      changesets: c.changesets,
      time: (performance.now() - started) / 1000,
    }
  }

  private prepareWrite(st: Statement, i: number): DbStatement {
    if (typeof st.sql !== 'string' || st.sql.trim() === '') {
      throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', `statement ${i}: SQL must be a non-empty string`)
    }
    const cached = this.stmtCache.get(st.sql)
    if (cached !== undefined) return cached.stmt
    const kw = leadingKeyword(st.sql)
    if (!WRITE_KEYWORDS.has(kw)) {
      throw new PatinaError(
        'PATINA_ERR_STATEMENT_REFUSED',
        `statement ${i}: ${kw || 'this'} statements are not allowed in transactions (allowed: ${[...WRITE_KEYWORDS].join(', ')}); schema changes go through schema files`,
      )
    }
    let stmt: DbStatement
    try {
      stmt = this.db.prepare(st.sql)
    } catch (err) {
      throw sqlError(err, `statement ${i}: `)
    }
    stmt.safeIntegers(true)
    let writes: string[]
    try {
      writes = this.writeTargets(st.sql, bindParams(st.sql, st.params))
    } catch (err) {
      throw sqlError(err, `statement ${i}: `)
    }
    for (const t of writes) {
      if (t === 'sqlite_sequence') continue
      if (!this.tables.has(t) && !isLocalTable(t, this.localTables)) {
        throw new PatinaError(
          'PATINA_ERR_STATEMENT_REFUSED',
          `statement ${i}: writes to "${t}" are not allowed: only replicated tables (${[...this.tables.keys()].join(', ') || 'none'}) and tables declared in db.local_tables can be written`,
        )
      }
    }
    // Only statements worth reusing are cached: a one-off bulk INSERT with thousands of literal
    // rows compiles to a program of megabytes, and 512 of those held native memory for good.
    if (st.sql.length <= MAX_CACHED_SQL_CHARS) {
      if (this.stmtCache.size >= MAX_CACHED_STATEMENTS)
        this.stmtCache.delete(this.stmtCache.keys().next().value as string)
      this.stmtCache.set(st.sql, { stmt, writes })
    }
    return stmt
  }

  /** Tables a statement opens for writing, read from SQLite's own query plan (EXPLAIN). */
  private writeTargets(sql: string, args: unknown[]): string[] {
    const ops = this.db.prepare(`EXPLAIN ${sql}`).all(...args) as {
      opcode: string
      p1: number
      p2: number
      p3: number
    }[]
    const out = new Set<string>()
    for (const op of ops) {
      let root: number | undefined
      let dbIdx: number | undefined
      if (op.opcode === 'OpenWrite') [root, dbIdx] = [op.p2, op.p3]
      else if (op.opcode === 'Clear' || op.opcode === 'Destroy') [root, dbIdx] = [op.p1, op.p2]
      if (root === undefined) continue
      if (dbIdx !== 0) {
        out.add('(temp or attached database)')
        continue
      }
      // A table created after the schema was loaded (a local table made by its own tool) is
      // not in the map yet: read the map again once.
      if (!this.rootPages.has(root)) this.loadRootPages()
      out.add(this.rootPages.get(root) ?? `(root page ${root})`)
    }
    return [...out]
  }

  /** Turn the captured touches into clock updates and changesets. Runs inside the transaction. */
  private commitLocal(): {
    version: number | null
    changesets: FullChangeset[]
    rows: RowChange[]
    ts: number
  } {
    const version = this.dbVersion + 1
    const ts = this.hlc.next()
    if (this.inexact) this.rereadExact()
    const changes: Change[] = []
    const rows: RowChange[] = []
    const vers = new VersGroups(this.selfOrd, version)
    let seq = 0
    for (const [ord, touches] of this.touches) {
      const rt = this.tablesByOrd.get(ord) as TableRt
      const table = rt.model.name
      for (const touch of touches.values()) {
        const t = touch as Touch & { pk: Uint8Array }
        t.pk ??= packPk(t.pkValues)
        // Fast path for the common insert of a brand-new row: write its clock with INSERT OR
        // IGNORE and skip the lookup; only when a clock already exists (a tombstone, or a
        // REPLACE of a live row) fall through to read-modify-write.
        if (!t.beforeKnown && t.after !== null) {
          const blob = encodeFreshRowClock(rt.model.nonPk, this.selfOrd, version, seq, vers.peek(seq))
          if (rt.insClock.run(t.pk, 1, blob).changes === 1) {
            vers.add(ord, t.pk, seq)
            changes.push({ table, pk: t.pk, cid: SENTINEL, val: null, colVersion: 1, cl: 1, seq: seq++ })
            const after = t.after
            for (let i = 1; i < rt.allCids.length; i++) {
              const cid = rt.allCids[i] as string
              changes.push({
                table,
                pk: t.pk,
                cid,
                val: after[i - 1] as SqlValue,
                colVersion: 1,
                cl: 1,
                seq: seq++,
              })
            }
            rows.push({ table, pk: t.pk, pkValues: t.pkValues, cids: rt.allCids, deleted: false })
            continue
          }
        }
        const existing = rt.getClock.get(t.pk) as { cl: number; clock: Buffer } | undefined
        const clock: RowClock = existing
          ? decodeRowClock(existing.clock)
          : { cl: 0, sentinel: { site: 0, dbv: 0, seq: 0 }, cols: new Map(), refs: new Map() }
        const oldRefs = existing ? liveRefs(clock) : null
        const seqStart = seq
        const cids: string[] = []
        const alive = isAlive(clock.cl)
        if (t.after === null || !alive) {
          // Delete of a live row, or create / resurrect: a new life (causal length + 1),
          // every cell reset; a created row then writes every column at col_version 1.
          if (t.after === null && !alive) continue
          clock.cl += 1
          clock.sentinel = { site: this.selfOrd, dbv: version, seq }
          clock.cols.clear()
          changes.push({
            table,
            pk: t.pk,
            cid: SENTINEL,
            val: null,
            colVersion: clock.cl,
            cl: clock.cl,
            seq: seq++,
          })
          cids.push(SENTINEL)
          const after = t.after
          if (after !== null) {
            rt.model.nonPk.forEach((c, i) => {
              clock.cols.set(c, { v: 1, site: this.selfOrd, dbv: version, seq })
              changes.push({
                table,
                pk: t.pk,
                cid: c,
                val: after[i] as SqlValue,
                colVersion: 1,
                cl: clock.cl,
                seq: seq++,
              })
              cids.push(c)
            })
          }
        } else {
          rt.model.nonPk.forEach((c, i) => {
            const after = (t.after as SqlValue[])[i] as SqlValue
            if (t.beforeKnown && valuesEqual((t.before as SqlValue[])[i] as SqlValue, after)) return
            const v = (clock.cols.get(c)?.v ?? 0) + 1
            clock.cols.set(c, { v, site: this.selfOrd, dbv: version, seq })
            changes.push({ table, pk: t.pk, cid: c, val: after, colVersion: v, cl: clock.cl, seq: seq++ })
            cids.push(c)
          })
          if (cids.length === 0) continue
        }
        if (oldRefs !== null) this.retireRefs(clock, oldRefs)
        clock.refs.set(refKey(this.selfOrd, version), vers.add(ord, t.pk, seqStart))
        rt.putClock.run(t.pk, clock.cl, encodeRowClock(clock))
        rows.push({ table, pk: t.pk, pkValues: t.pkValues, cids, deleted: !isAlive(clock.cl) })
      }
    }
    if (changes.length === 0) return { version: null, changesets: [], rows: [], ts }
    const lastSeq = seq - 1
    vers.flush(this.s['insVers'] as DbStatement, ts, lastSeq)
    this.dbVersion = version
    ;(this.s['putMeta'] as DbStatement).run('db_version', version)
    const self = this.bookedFor(this.selfOrd)
    self.markComplete(version)
    ;(this.s['putHead'] as DbStatement).run(this.selfOrd, version)
    return { version, changesets: this.chunk(version, ts, lastSeq, changes), rows, ts }
  }

  /** Replace captured values by an exact read (safe integers) of every touched live row. */
  private rereadExact(): void {
    this.inexact = false
    for (const [ord, touches] of this.touches) {
      const rt = this.tablesByOrd.get(ord) as TableRt
      for (const t of touches.values()) {
        const exactPk = t.pkValues.some(
          (v) => typeof v === 'number' && !Number.isSafeInteger(v) && Number.isInteger(v),
        )
        if (exactPk) {
          throw new PatinaError(
            'PATINA_ERR_PARAM_INVALID',
            `table "${rt.model.name}": integer primary key values beyond ±2^53 are not supported`,
          )
        }
        if (t.after === null) continue
        const r = rt.selectRow.get(...t.pkValues) as unknown[] | undefined
        if (r !== undefined) t.after = rt.model.nonPk.length ? r.map(normalizeValue) : []
      }
    }
  }

  /** Delete version-index entries no longer referenced by any cell of the row. */
  private retireRefs(clock: RowClock, oldRefs: Set<string>): void {
    const live = liveRefs(clock)
    for (const k of oldRefs) {
      if (live.has(k)) continue
      const group = clock.refs.get(k)
      clock.refs.delete(k)
      if (group === undefined) continue
      const i = k.indexOf(':')
      const site = Number(k.slice(0, i))
      const dbv = Number(k.slice(i + 1))
      const left = (this.s['decVers'] as DbStatement).get(site, dbv, group) as { live: number } | undefined
      if (left !== undefined && left.live <= 0) (this.s['delVers'] as DbStatement).run(site, dbv, group)
    }
    for (const k of [...clock.refs.keys()]) if (!live.has(k)) clock.refs.delete(k)
  }

  /** Split a version's changes into chunks of about `maxChunkBytes`, covering 0..lastSeq. */
  private chunk(version: number, ts: number, lastSeq: number, changes: Change[]): FullChangeset[] {
    const out: FullChangeset[] = []
    let cur: Change[] = []
    let bytes = 0
    let start = 0
    for (const c of changes) {
      const size = c.pk.length + c.cid.length + valueSize(c.val) + 16
      if (cur.length > 0 && bytes + size > this.maxChunkBytes) {
        out.push({
          kind: 'full',
          actorId: this.actorId,
          version,
          ts,
          seqStart: start,
          seqEnd: c.seq - 1,
          lastSeq,
          changes: cur,
        })
        start = c.seq
        cur = []
        bytes = 0
      }
      cur.push(c)
      bytes += size
    }
    out.push({
      kind: 'full',
      actorId: this.actorId,
      version,
      ts,
      seqStart: start,
      seqEnd: lastSeq,
      lastSeq,
      changes: cur,
    })
    return out
  }

  // ---------------------------------------------------------------- reads

  query(sql: string, params?: Statement['params'], opts: QueryOptions = {}): QueryCursor {
    this.assertOpen()
    const conn = this.readers?.acquire() ?? this.db
    const release = () => {
      if (conn !== this.db) this.readers?.release(conn)
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
      iter = stmt.iterate(...bindParams(sql, params)) as IterableIterator<unknown[]>
    } catch (err) {
      release()
      throw sqlError(err, '')
    }
    const value = opts.exactIntegers === true ? exactValue : normalizeValue
    function* rows(): Generator<SqlValue[]> {
      try {
        for (const r of iter) yield r.map(value)
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
      if (!this.tables.has(t)) {
        invalid.push(t)
        continue
      }
      total += (this.db.prepare(`SELECT count(*) AS n FROM ${q(t)}`).get() as { n: number }).n
    }
    return { totalRowCount: total, invalidTables: invalid }
  }

  stats(): EngineStats {
    let gaps = 0
    let partials = 0
    for (const b of this.booked.values()) {
      gaps += b.gaps.count()
      partials += b.partials.size
    }
    return { gaps, partials, actors: this.booked.size, version: this.dbVersion }
  }

  contains(actorId: ActorId, version: number): boolean {
    const ord = this.siteOrds.get(actorId)
    if (ord === undefined) return false
    return this.booked.get(ord)?.contains(version) ?? false
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
    const snapshots = new Map<
      number,
      { head: number; gaps: Range[]; partials: [number, { seqs: Range[]; lastSeq: number; ts: number }][] }
    >()
    const touchedPartials = new Map<number, Set<number>>()
    const snap = (site: number, b: BookedVersions) => {
      if (snapshots.has(site)) return
      snapshots.set(site, {
        head: b.head,
        gaps: b.gaps.toArray(),
        partials: [...b.partials].map(([v, p]) => [
          v,
          { seqs: p.seqs.toArray(), lastSeq: p.lastSeq, ts: p.ts },
        ]),
      })
    }
    const partialsOf = (site: number) => {
      let s = touchedPartials.get(site)
      if (s === undefined) touchedPartials.set(site, (s = new Set()))
      return s
    }
    try {
      this.db.transaction(() => {
        for (const cs of changesets) {
          if (cs.actorId === this.actorId) {
            result.ignored += cs.kind === 'full' ? cs.changes.length : 0
            continue
          }
          const site = this.siteOrd(cs.actorId)
          const b = this.bookedFor(site)
          if (cs.kind === 'empty') {
            const [a, e] = cs.versions
            if (b.needIn(a, e).length === 0) continue
            snap(site, b)
            for (const v of b.partials.keys()) if (v >= a && v <= e) partialsOf(site).add(v)
            ;(this.s['delBuffered'] as DbStatement).run(site, a, e)
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
          this.hlc.observe(cs.ts)
          snap(site, b)
          if (cs.seqStart === 0 && cs.seqEnd === cs.lastSeq) {
            // A chunk covering the whole version supersedes anything buffered for it.
            this.mergeChanges(site, cs, result, rows)
            if (b.partials.has(cs.version)) {
              ;(this.s['delBuffered'] as DbStatement).run(site, cs.version, cs.version)
              partialsOf(site).add(cs.version)
            }
            b.markComplete(cs.version)
          } else {
            ;(this.s['insBuffered'] as DbStatement).run(
              site,
              cs.version,
              cs.seqStart,
              cs.seqEnd,
              bufferPackr.pack(changesetToWire(cs)),
            )
            partialsOf(site).add(cs.version)
            result.buffered++
            if (!b.markPartial(cs.version, cs.seqStart, cs.seqEnd, cs.lastSeq, cs.ts)) continue
            const chunks = (
              (this.s['getBuffered'] as DbStatement).all(site, cs.version) as { data: Buffer }[]
            ).map((r) => changesetFromWire(bufferPackr.unpack(r.data)) as FullChangeset)
            for (const ch of chunks) this.mergeChanges(site, ch, result, rows)
            ;(this.s['delBuffered'] as DbStatement).run(site, cs.version, cs.version)
            b.markComplete(cs.version)
          }
          result.versions.push({ actorId: cs.actorId, version: cs.version })
          timestamps.push(cs.ts)
        }
        for (const site of snapshots.keys())
          this.persistBooked(site, this.bookedFor(site), touchedPartials.get(site) ?? [])
      })()
    } catch (err) {
      // Roll the in-memory bookkeeping back to what the rolled-back transaction left.
      for (const [site, s] of snapshots) {
        const b = new BookedVersions()
        b.head = s.head
        for (const [x, y] of s.gaps) b.gaps.add(x, y)
        for (const [v, p] of s.partials)
          b.partials.set(v, { seqs: RangeSet.from(p.seqs), lastSeq: p.lastSeq, ts: p.ts })
        this.booked.set(site, b)
      }
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
      const rt = this.tables.get(c.table)
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
    vers.flush(this.s['insVers'] as DbStatement, cs.ts, cs.lastSeq)
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
    const rt = this.tables.get(first.table) as TableRt
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
    const siteName = (ord: number) => (ord === this.selfOrd ? actor : (this.sites.get(ord) ?? ''))
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
    this.retireRefs(clock, oldRefs)
    if (!clock.refs.has(key)) clock.refs.set(key, vers.add(rt.ord, pk, minSeq))
    rt.putClock.run(pk, clock.cl, encodeRowClock(clock))
    const rk = `${rt.ord}:${pkKey(pk)}`
    const prev = rows.get(rk)
    const cids = new Set(prev?.cids ?? [])
    if (reset || alive !== wasAlive) cids.add(SENTINEL)
    for (const c of winners.keys()) cids.add(c)
    rows.set(rk, { table: rt.model.name, pk, pkValues, cids: [...cids], deleted: !alive })
  }

  private dyn(rt: TableRt, kind: 'replace' | 'update', cols: string[]): DbStatement {
    const key = `${rt.model.name}\u0000${kind}\u0000${cols.join('\u0000')}`
    let st = this.dynCache.get(key)
    if (st === undefined) {
      const t = q(rt.model.name)
      if (kind === 'replace') {
        const all = [...rt.model.pk, ...cols]
        st = this.db.prepare(
          `INSERT OR REPLACE INTO ${t} (${all.map(q).join(', ')}) VALUES (${all.map(() => '?').join(', ')})`,
        )
      } else {
        st = this.db.prepare(
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
    for (const [site, b] of this.booked) {
      const actor = this.sites.get(site)
      if (actor === undefined || b.head === 0) continue
      state.heads[actor] = b.head
      if (!b.gaps.isEmpty()) state.need[actor] = b.gaps.toArray()
      if (b.partials.size > 0) state.partialNeed[actor] = b.partialNeeds()
    }
    return state
  }

  *changesFor(theirs: SyncState, opts: { maxChunkBytes?: number } = {}): Generator<Changeset> {
    const maxBytes = opts.maxChunkBytes ?? this.maxChunkBytes
    for (const [site, b] of [...this.booked]) {
      const actor = this.sites.get(site)
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
          const rows = (this.s['getBuffered'] as DbStatement).all(site, v) as { data: Buffer }[]
          for (const r of rows) yield changesetFromWire(bufferPackr.unpack(r.data))
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
    const conn = this.readers?.acquire() ?? this.db
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
      if (conn !== this.db) this.readers?.release(conn)
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
    const rt = this.tablesByOrd.get(tblOrd)
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
      this.db.prepare(`VACUUM INTO ?`).run(path)
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
    if (this.closed) return
    this.closed = true
    this.readers?.close()
    this.db.close()
  }

  private assertOpen(): void {
    if (this.closed) throw new PatinaError('PATINA_ERR_CLOSED', 'the state engine is closed')
  }
}

/** Rows per version-index group. */
const VERS_GROUP_ROWS = 256
const versPackr = new Packr({ useRecords: false, moreTypes: false })

/**
 * Collects the rows one version writes into version-index groups of up to
 * VERS_GROUP_ROWS rows, keyed by the first row's seq. `add` returns the group key
 * the row's clock must reference; `flush` writes the groups.
 */
class VersGroups {
  private groups: { seq: number; entries: unknown[] }[] = []
  constructor(
    readonly site: number,
    readonly dbv: number,
  ) {}

  /** The group key `add(…, seq)` would return. */
  peek(seq: number): number {
    const g = this.groups.at(-1)
    return g === undefined || g.entries.length >= VERS_GROUP_ROWS * 3 ? seq : g.seq
  }

  add(tbl: number, pk: Uint8Array, seq: number): number {
    let g = this.groups.at(-1)
    if (g === undefined || g.entries.length >= VERS_GROUP_ROWS * 3) {
      g = { seq, entries: [] }
      this.groups.push(g)
    }
    g.entries.push(tbl, pk, seq)
    return g.seq
  }

  flush(ins: DbStatement, ts: number, lastSeq: number): void {
    for (const g of this.groups)
      ins.run(this.site, this.dbv, g.seq, ts, lastSeq, g.entries.length / 3, versPackr.pack(g.entries))
    this.groups = []
  }
}

/** Decode a version-index group's entries: [tbl, pk, seqStart] per row, in seq order. */
function decodeVersEntries(b: Buffer): { tbl: number; pk: Buffer; seq: number }[] {
  const flat = versPackr.unpack(b) as unknown[]
  const out: { tbl: number; pk: Buffer; seq: number }[] = []
  for (let i = 0; i < flat.length; i += 3) {
    out.push({ tbl: flat[i] as number, pk: flat[i + 1] as Buffer, seq: flat[i + 2] as number })
  }
  return out
}

/**
 * Map key of a touched row within one transaction. A single TEXT or numeric key is used as is
 * (no allocation on the bulk-insert path); anything else is the packed key prefixed with NUL,
 * which no plain text key starts with.
 */
function touchKey(pkValues: SqlValue[]): string | number {
  if (pkValues.length === 1) {
    const v = pkValues[0]
    if (typeof v === 'number') return v
    if (typeof v === 'string' && !v.startsWith('\u0000')) return v
  }
  return '\u0000' + pkKey(packPk(pkValues))
}
