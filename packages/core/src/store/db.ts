import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
import { loadDeadline, type DeadlineGuard } from './deadline.js'
import { openError } from './driver.js'

/** Internal tables; every name starts with `__patina` and user SQL may not write them. */
const INTERNAL_DDL = `
CREATE TABLE IF NOT EXISTS __patina_meta (key TEXT PRIMARY KEY, value ANY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS __patina_sites (ord INTEGER PRIMARY KEY, actor_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS __patina_tables (ord INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
-- Version index: groups of up to 256 rows written by one version, so sync can serve
-- "versions a..b of actor X". \`live\` counts rows of the group still carrying a cell of
-- that version; the group is deleted when it reaches 0.
CREATE TABLE IF NOT EXISTS __patina_vers (
  site INTEGER NOT NULL, db_version INTEGER NOT NULL, seq INTEGER NOT NULL,
  ts INTEGER NOT NULL, last_seq INTEGER NOT NULL, live INTEGER NOT NULL, entries BLOB NOT NULL,
  PRIMARY KEY (site, db_version, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS __patina_heads (site INTEGER PRIMARY KEY, head INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS __patina_gaps (site INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
  PRIMARY KEY (site, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS __patina_partials (site INTEGER NOT NULL, db_version INTEGER NOT NULL,
  last_seq INTEGER NOT NULL, ts INTEGER NOT NULL, seqs TEXT NOT NULL, PRIMARY KEY (site, db_version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS __patina_buffered (site INTEGER NOT NULL, db_version INTEGER NOT NULL, seq_start INTEGER NOT NULL,
  seq_end INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (site, db_version, seq_start, seq_end)) WITHOUT ROWID;
`

/**
 * SQLite's `synchronous` setting of the writer, in WAL mode: `NORMAL` syncs the WAL at
 * checkpoints only, so a commit survives a crash of the process but an OS crash or power loss
 * can roll back the last commits; `FULL` syncs the WAL at every commit, so an acknowledged write
 * survives those too, at the cost of one fsync per transaction (docs/reliability.md).
 */
export type Synchronous = 'NORMAL' | 'FULL'

export interface OpenOptions {
  /** SQLite page cache for the writer, in KiB. */
  cacheSizeKib?: number
  /** Durability of commits (default `NORMAL`). */
  synchronous?: Synchronous
  /** How long a write waits for another connection's lock before failing with SQLITE_BUSY, ms. */
  busyTimeoutMs?: number
}

/** A connection with its statement deadline (`deadline.ts`). */
export interface Conn {
  db: Db
  deadline: DeadlineGuard
}

/**
 * Opens the writer connection and creates the internal tables; failures name the file.
 * The deadline extension is loaded first: a node that cannot stop statements does not start.
 */
export function openWriter(path: string, opts: OpenOptions = {}): Conn {
  let db: Db | undefined
  try {
    db = new Database(path)
    const deadline = loadDeadline(db)
    if (path !== ':memory:') db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`)
    db.pragma('foreign_keys = OFF')
    // As in Corrosion: a REPLACE conflict fires the delete trigger of the row it replaces, so
    // capture sees a delete and an insert (a new life of the row, see capture.ts).
    db.pragma('recursive_triggers = ON')
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`)
    db.pragma(`cache_size = -${opts.cacheSizeKib ?? 65536}`)
    db.exec(INTERNAL_DDL)
    return { db, deadline }
  } catch (err) {
    db?.close()
    throw openError(path, err)
  }
}

/**
 * Opens a read-only connection (with its deadline; `key` lets another thread cancel its
 * statement, see `DeadlineGuard.cancel`); failures name the file.
 */
export function openReader(path: string, key?: Uint8Array): Conn {
  let db: Db | undefined
  try {
    db = new Database(path, { readonly: true, fileMustExist: true })
    const deadline = loadDeadline(db, key === undefined ? {} : { key })
    db.pragma('busy_timeout = 5000')
    return { db, deadline }
  } catch (err) {
    db?.close()
    throw openError(path, err)
  }
}

/**
 * A small pool of read-only connections. A better-sqlite3 connection cannot run
 * another statement while one is being iterated, so every streaming read takes a
 * connection of its own and gives it back when its iteration ends.
 */
export class ReaderPool {
  private idle: Conn[] = []
  private all = new Set<Conn>()
  constructor(
    private readonly path: string,
    private readonly maxIdle = 8,
    /** Run on every new connection (compatibility views and functions). */
    private readonly setup: (db: Db) => void = () => {},
  ) {}

  acquire(): Conn {
    let conn = this.idle.pop()
    if (conn === undefined) {
      conn = openReader(this.path)
      this.setup(conn.db)
    }
    this.all.add(conn)
    return conn
  }

  release(conn: Conn): void {
    if (!conn.db.open) return
    if (this.idle.length < this.maxIdle) this.idle.push(conn)
    else {
      this.all.delete(conn)
      conn.db.close()
    }
  }

  close(): void {
    for (const c of this.all) if (c.db.open) c.db.close()
    this.all.clear()
    this.idle = []
  }
}
