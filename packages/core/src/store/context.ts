import { randomUUID } from 'node:crypto'
import type { SqlValue } from '@patina/api'
import type { Database as Db, Statement as DbStatement } from 'better-sqlite3'
import { createHlc, systemClock, type Clock, type Hlc } from '../clock.js'
import { DEFAULT_CHUNK_BYTES } from '../codec/limits.js'
import { columnAffinity } from '../schema/affinity.js'
import { SENTINEL, type ActorId, type SchemaModel, type TableModel } from '../types.js'
import { RefusedVersions } from '../versions/refused.js'
import { Books } from './books.js'
import { installCompat, type CompatSource } from './compat.js'
import { openWriter, ReaderPool, type Conn, type Synchronous } from './db.js'
import { validateLocalTables } from '../schema/local.js'
import { clockTable, loadSchema, q } from './schema-store.js'

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
  /** Most read threads for `queryAsync` (started on first use); default 4. */
  readThreads?: number
  /** Durability of commits: `NORMAL` (default) or `FULL` (an fsync per commit); see `db.ts`. */
  synchronous?: Synchronous
  /** How long a write waits for another connection's lock, ms (default 5000). */
  busyTimeoutMs?: number
  /**
   * Non-replicated tables client transactions may write (names; a trailing `*` matches a
   * prefix), created outside the schema files. See `schema/local.ts`.
   */
  localTables?: string[]
}

/**
 * The statements on the internal tables that several parts of the store run, prepared once on
 * the writer. Typed by their bind parameters and result rows, so a caller cannot pass the
 * wrong arguments or misread a row without the compiler noticing.
 */
export interface Statements {
  getMeta: DbStatement<[key: string], { value: string | number }>
  putMeta: DbStatement<[key: string, value: string | number]>
  insSite: DbStatement<[actorId: ActorId]>
  putHead: DbStatement<[site: number, head: number]>
  delGaps: DbStatement<[site: number]>
  insGap: DbStatement<[site: number, start: number, end: number]>
  putPartial: DbStatement<[site: number, dbVersion: number, lastSeq: number, ts: number, seqs: string]>
  delPartial: DbStatement<[site: number, dbVersion: number]>
  insBuffered: DbStatement<[site: number, dbVersion: number, seqStart: number, seqEnd: number, data: Buffer]>
  getBuffered: DbStatement<[site: number, dbVersion: number], { data: Buffer }>
  delBuffered: DbStatement<[site: number, from: number, to: number]>
  insVers: DbStatement<
    [site: number, dbVersion: number, seq: number, ts: number, lastSeq: number, live: number, entries: Buffer]
  >
  decVers: DbStatement<[site: number, dbVersion: number, seq: number], { live: number }>
  delVers: DbStatement<[site: number, dbVersion: number, seq: number]>
}

function prepareStatements(db: Db): Statements {
  return {
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
}

/** A row's clock as stored: the causal length (indexed) and the encoded `RowClock`. */
export interface StoredClock {
  cl: number
  clock: Buffer
}

/**
 * One replicated table as the store works with it: its model, its ordinal (the number the
 * capture triggers and the version index use instead of the name) and the statements on its
 * clock table and its rows, prepared once per schema.
 */
export interface TableRuntime {
  model: TableModel
  ord: number
  /** Position of each non-key column in `model.nonPk` (and in `selectRow`'s result). */
  nonPkIndex: Map<string, number>
  /** SENTINEL then every non-key column: the cids of a created row (shared, never mutated). */
  allCids: string[]
  /**
   * Per key column, whether it has no type affinity (untyped, `BLOB`, STRICT `ANY`): such a
   * column keeps a REAL as a REAL, and an integral REAL key is refused (see `crdt/pk.ts`).
   */
  keyWithoutAffinity: boolean[]
  getClock: DbStatement<[pk: Uint8Array], StoredClock>
  /** Writes the clock of a brand-new row; changes nothing when the row already has one. */
  insClock: DbStatement<[pk: Uint8Array, cl: number, clock: Buffer]>
  putClock: DbStatement<[pk: Uint8Array, cl: number, clock: Buffer]>
  /** The non-key cells of a row, raw and with safe integers, bound by its key values. */
  selectRow: DbStatement<SqlValue[], unknown[]>
  deleteRow: DbStatement<SqlValue[]>
}

function tableRuntime(db: Db, model: TableModel, ord: number): TableRuntime {
  const where = model.pk.map((c) => `${q(c)} = ?`).join(' AND ')
  const rt: TableRuntime = {
    model,
    ord,
    nonPkIndex: new Map(model.nonPk.map((c, i) => [c, i])),
    allCids: [SENTINEL, ...model.nonPk],
    keyWithoutAffinity: model.pk.map(
      (c) =>
        columnAffinity(model.columns.find((x) => x.name === c)?.type ?? '', model.strict === true) === 'BLOB',
    ),
    getClock: db.prepare(`SELECT cl, clock FROM ${clockTable(model.name)} WHERE pk = ?`),
    insClock: db.prepare(`INSERT OR IGNORE INTO ${clockTable(model.name)} (pk, cl, clock) VALUES (?, ?, ?)`),
    putClock: db.prepare(
      `INSERT INTO ${clockTable(model.name)} (pk, cl, clock) VALUES (?, ?, ?) ON CONFLICT (pk) DO UPDATE SET cl = excluded.cl, clock = excluded.clock`,
    ),
    selectRow: db.prepare<SqlValue[], unknown[]>(
      `SELECT ${model.nonPk.length ? model.nonPk.map(q).join(', ') : '1'} FROM ${q(model.name)} WHERE ${where}`,
    ),
    deleteRow: db.prepare<SqlValue[]>(`DELETE FROM ${q(model.name)} WHERE ${where}`),
  }
  rt.selectRow.raw(true).safeIntegers(true)
  return rt
}

/**
 * What every part of the store shares: the connections, the typed statements, this node's
 * identity, the site ordinals, the per-actor books and the runtimes of the replicated tables.
 * Capture, apply, serving and reads each take this one object instead of reaching into each
 * other, so they import the context and never one another's state.
 */
export class StoreContext {
  /** The writer connection with its statement deadline. */
  readonly writer: Conn
  readonly db: Db
  /** Read connections; null for ':memory:', where reads share the writer. */
  readonly readers: ReaderPool | null
  readonly hlc: Hlc
  /** Wall clock (ms) for the retry times of refused versions. */
  readonly clock: Clock
  readonly maxChunkBytes: number
  readonly stmts: Statements
  /** This node's actor id (changed only by `renewActor`). */
  actorId: ActorId
  /** Whether the actor id was created by this open (a new database, or a copy stripped of its identity). */
  actorCreated: boolean
  /** This node's own site ordinal. */
  selfOrd: number
  /**
   * The last version of this node's actor: committed here, or learned back from peers (versions
   * of this actor beyond what the database held, see `apply.ts`). The next local commit takes
   * the one after it.
   */
  dbVersion: number
  /** What this node knows of each actor's versions, by site ordinal. */
  readonly books: Books
  /** Versions refused when applied, held back until their retry time (`versions/refused.ts`). */
  readonly refused = new RefusedVersions()
  schema: SchemaModel = { tables: new Map() }
  readonly tables = new Map<string, TableRuntime>()
  readonly tablesByOrd = new Map<number, TableRuntime>()
  /** Root page → table name: how a statement's `EXPLAIN` program names the tables it writes. */
  rootPages = new Map<number, string>()
  /** Declared local tables (`db.local_tables`): writable, never replicated. */
  readonly localTables: string[]
  closed = false
  /** Client statements and transactions stopped by their deadline. */
  interrupts = 0
  /** What the cr-sqlite compatibility names read (`compat.ts`); follows `renewActor`. */
  private readonly compat: CompatSource = {
    actorId: '',
    dbVersion: () => this.dbVersion,
    sites: () => this.sites.entries(),
  }
  private readonly sites = new Map<number, ActorId>()
  private readonly siteOrds = new Map<ActorId, number>()

  constructor(opts: StateEngineOptions) {
    this.writer = openWriter(opts.path, {
      ...(opts.cacheSizeKib === undefined ? {} : { cacheSizeKib: opts.cacheSizeKib }),
      ...(opts.synchronous === undefined ? {} : { synchronous: opts.synchronous }),
      ...(opts.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: opts.busyTimeoutMs }),
    })
    this.db = this.writer.db
    const compat = this.compat
    this.readers =
      opts.path === ':memory:' ? null : new ReaderPool(opts.path, 8, (db) => installCompat(db, compat))
    this.clock = opts.clock ?? systemClock
    this.hlc = createHlc(this.clock)
    this.maxChunkBytes = opts.maxChunkBytes ?? DEFAULT_CHUNK_BYTES
    validateLocalTables(opts.localTables ?? [])
    this.localTables = [...(opts.localTables ?? [])]
    this.stmts = prepareStatements(this.db)

    // Identity: an actor id persisted in the database (a restored backup gets a new one).
    let actor = this.stmts.getMeta.get('actor_id')?.value
    this.actorCreated = actor === undefined
    if (actor === undefined) {
      const fresh = randomUUID()
      this.db.transaction(() => {
        this.stmts.putMeta.run('actor_id', fresh)
        this.stmts.putMeta.run('db_version', 0)
      })()
      actor = fresh
    }
    this.actorId = String(actor)
    const rows = this.db.prepare<[], { ord: number; actor_id: string }>(
      `SELECT ord, actor_id FROM __patina_sites`,
    )
    for (const r of rows.all()) {
      this.sites.set(r.ord, r.actor_id)
      this.siteOrds.set(r.actor_id, r.ord)
    }
    this.selfOrd = this.siteOrd(this.actorId)
    this.books = new Books(this.stmts)
    this.books.load(this.db, this.selfOrd, Number(this.stmts.getMeta.get('db_version')?.value ?? 0))
    this.dbVersion = this.books.get(this.selfOrd).head
    this.compat.actorId = this.actorId
    installCompat(this.db, this.compat)
  }

  /**
   * Gives this node a new actor id (its versions start again at 1). The old actor's versions
   * stay, as those of any other actor: served to peers, and completed from peers that hold more
   * of them. For a node whose database may be older than what peers know of its actor.
   */
  renewActor(): ActorId {
    const fresh = randomUUID()
    const ord = this.siteOrd(fresh)
    this.db.transaction(() => {
      this.stmts.putMeta.run('actor_id', fresh)
      this.stmts.putMeta.run('db_version', 0)
    })()
    this.selfOrd = ord
    this.actorId = fresh
    this.actorCreated = true
    this.dbVersion = this.books.get(this.selfOrd).head
    this.compat.actorId = fresh
    return fresh
  }

  /** The ordinal of an actor, registering it on first sight. */
  siteOrd(actorId: ActorId): number {
    let ord = this.siteOrds.get(actorId)
    if (ord === undefined) {
      ord = Number(this.stmts.insSite.run(actorId).lastInsertRowid)
      this.sites.set(ord, actorId)
      this.siteOrds.set(actorId, ord)
    }
    return ord
  }

  /** The ordinal of an actor if it is known, without registering it. */
  knownSiteOrd(actorId: ActorId): number | undefined {
    return this.siteOrds.get(actorId)
  }

  /** The actor id of a site ordinal, or undefined for an ordinal never registered. */
  actorOf(site: number): ActorId | undefined {
    return this.sites.get(site)
  }

  /** Re-read the replicated tables from the database and prepare their runtimes. */
  loadTables(): void {
    this.schema = loadSchema(this.db)
    this.tables.clear()
    this.tablesByOrd.clear()
    const ords = new Map(
      this.db
        .prepare<[], { ord: number; name: string }>(`SELECT ord, name FROM __patina_tables`)
        .all()
        .map((r) => [r.name, r.ord]),
    )
    for (const model of this.schema.tables.values()) {
      const rt = tableRuntime(this.db, model, ords.get(model.name) as number)
      this.tables.set(model.name, rt)
      this.tablesByOrd.set(rt.ord, rt)
    }
    this.loadRootPages()
  }

  /** Re-read which table each root page belongs to. */
  loadRootPages(): void {
    this.rootPages = new Map(
      this.db
        .prepare<[], { rootpage: number; tbl_name: string }>(
          `SELECT rootpage, tbl_name FROM sqlite_schema WHERE rootpage > 0`,
        )
        .all()
        .map((r) => [r.rootpage, r.tbl_name]),
    )
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.readers?.close()
    this.db.close()
  }
}
