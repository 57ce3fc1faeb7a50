import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'
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

/** Opens the writer connection and creates the internal tables; failures name the file. */
export function openWriter(path: string, opts: OpenOptions = {}): Db {
  let db: Db | undefined
  try {
    db = new Database(path)
    if (path !== ':memory:') db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`)
    db.pragma('foreign_keys = OFF')
    // As in Corrosion: a REPLACE conflict fires the delete trigger of the row it replaces, so
    // capture sees a delete and an insert (a new life of the row, see capture.ts).
    db.pragma('recursive_triggers = ON')
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`)
    db.pragma(`cache_size = -${opts.cacheSizeKib ?? 65536}`)
    db.exec(INTERNAL_DDL)
    return db
  } catch (err) {
    db?.close()
    throw openError(path, err)
  }
}

export function openReader(path: string): Db {
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true })
    db.pragma('busy_timeout = 5000')
    return db
  } catch (err) {
    throw openError(path, err)
  }
}

/**
 * A small pool of read-only connections. A better-sqlite3 connection cannot run
 * another statement while one is being iterated, so every streaming read takes a
 * connection of its own and gives it back when its iteration ends.
 */
export class ReaderPool {
  private idle: Db[] = []
  private all = new Set<Db>()
  constructor(
    private readonly path: string,
    private readonly maxIdle = 8,
    /** Run on every new connection (compatibility views and functions). */
    private readonly setup: (db: Db) => void = () => {},
  ) {}

  acquire(): Db {
    let db = this.idle.pop()
    if (db === undefined) {
      db = openReader(this.path)
      this.setup(db)
    }
    this.all.add(db)
    return db
  }

  release(db: Db): void {
    if (!db.open) return
    if (this.idle.length < this.maxIdle) this.idle.push(db)
    else {
      this.all.delete(db)
      db.close()
    }
  }

  close(): void {
    for (const db of this.all) if (db.open) db.close()
    this.all.clear()
    this.idle = []
  }
}
