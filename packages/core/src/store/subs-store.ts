import Database from 'better-sqlite3'
import { loadDeadline } from './deadline.js'
import { guardMethods, openError } from './driver.js'

/**
 * Persistence of live subscriptions (Corrosion keeps one SQLite file per subscription; Patina
 * keeps them all in one file next to the state database): each subscription's query, its
 * current result rows with their stable row ids, and its change log, so that subscriptions
 * survive a restart and clients can resume with `from=<change id>` far back.
 *
 * Values are stored as opaque text chosen by the caller (the hub stores a row's key and the
 * JSON text of its cells exactly as the API sends them).
 */
export interface SubRecord {
  id: string
  /** The subscription query as given. */
  sql: string
  /** Caller-encoded parameters of the query, or null. */
  params: string | null
  /** Hash of the normalized query (the `corro-query-hash` header). */
  hash: string
  /** Last change id written (0 before any change). */
  lastChangeId: number
  /** Next row id to hand out (row ids start at 1). */
  nextRowid: number
  createdAtMs: number
  /** Result column names (the `columns` event), or null for a subscription stored before they were kept. */
  columns: string[] | null
}

export interface StoredRow {
  rowid: number
  /** Caller-encoded identity of the row (the primary keys of its tables). */
  key: string
  /** Caller-encoded cells. */
  cells: string
}

export type StoredChangeType = 'insert' | 'update' | 'delete'

export interface StoredChange {
  changeId: number
  type: StoredChangeType
  rowid: number
  cells: string
  /** Wall-clock time the change was recorded, in milliseconds since the epoch. */
  atMs: number
}

/** One maintenance step of a subscription, written atomically. */
export interface SubBatch {
  upserts: StoredRow[]
  deletes: number[]
  changes: StoredChange[]
  lastChangeId: number
  nextRowid: number
}

export interface SubsStore {
  list(): SubRecord[]
  get(id: string): SubRecord | undefined
  /** Creates a subscription with its initial rows, in one transaction. */
  create(rec: SubRecord, rows: readonly StoredRow[]): void
  rows(id: string): StoredRow[]
  /** Applies a maintenance batch (rows, change log, counters) in one transaction. */
  commit(id: string, batch: SubBatch): void
  /** Changes with id > `afterId`, in order, at most `limit`. */
  changesAfter(id: string, afterId: number, limit: number): StoredChange[]
  /** Smallest retained change id, or null when the log is empty. */
  minChangeId(id: string): number | null
  /**
   * Drops old changes: all but the newest `maxCount`, and those recorded before `beforeMs`.
   * Returns the number of changes removed.
   */
  purge(id: string, opts: { maxCount: number; beforeMs: number }): number
  delete(id: string): void
  close(): void
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS patina_subs (
  id TEXT PRIMARY KEY,
  sql TEXT NOT NULL,
  params TEXT,
  hash TEXT NOT NULL,
  last_change_id INTEGER NOT NULL,
  next_rowid INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  columns TEXT
);
CREATE TABLE IF NOT EXISTS patina_sub_rows (
  sub TEXT NOT NULL,
  rowid_ INTEGER NOT NULL,
  key TEXT NOT NULL,
  cells TEXT NOT NULL,
  PRIMARY KEY (sub, rowid_)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS patina_sub_changes (
  sub TEXT NOT NULL,
  id INTEGER NOT NULL,
  type TEXT NOT NULL,
  rowid_ INTEGER NOT NULL,
  cells TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  PRIMARY KEY (sub, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS patina_sub_changes_at ON patina_sub_changes (sub, at_ms);
`

interface SubRow {
  id: string
  sql: string
  params: string | null
  hash: string
  last_change_id: number
  next_rowid: number
  created_at_ms: number
  columns: string | null
}

function toRecord(r: SubRow): SubRecord {
  return {
    id: r.id,
    sql: r.sql,
    params: r.params,
    hash: r.hash,
    lastChangeId: r.last_change_id,
    nextRowid: r.next_rowid,
    createdAtMs: r.created_at_ms,
    columns: r.columns === null ? null : (JSON.parse(r.columns) as string[]),
  }
}

/**
 * Opens (creating if needed) the subscription store at `path` (`:memory:` for tests). Driver
 * errors, on opening or from any method, come out as `PatinaError` (see `driver.ts`).
 */
export function openSubsStore(path: string): SubsStore {
  try {
    return guardMethods(openRaw(path))
  } catch (err) {
    throw openError(path, err)
  }
}

function openRaw(path: string): SubsStore {
  const db = new Database(path)
  // The subscription store runs no client SQL, but every connection Patina opens can stop a
  // statement, so a missing extension is found at start whatever opens first.
  try {
    loadDeadline(db)
  } catch (err) {
    db.close()
    throw err
  }
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(SCHEMA)
  // Stores written before the columns were kept.
  const cols = db.prepare('SELECT name FROM pragma_table_info(?)').all('patina_subs') as { name: string }[]
  if (!cols.some((c) => c.name === 'columns')) db.exec('ALTER TABLE patina_subs ADD COLUMN columns TEXT')

  const s = {
    list: db.prepare<[], SubRow>('SELECT * FROM patina_subs ORDER BY created_at_ms, id'),
    get: db.prepare<[string], SubRow>('SELECT * FROM patina_subs WHERE id = ?'),
    insertSub: db.prepare(
      'INSERT INTO patina_subs (id, sql, params, hash, last_change_id, next_rowid, created_at_ms, columns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    updateSub: db.prepare('UPDATE patina_subs SET last_change_id = ?, next_rowid = ? WHERE id = ?'),
    rows: db.prepare<[string], { rowid_: number; key: string; cells: string }>(
      'SELECT rowid_, key, cells FROM patina_sub_rows WHERE sub = ? ORDER BY rowid_',
    ),
    upsertRow: db.prepare(
      'INSERT INTO patina_sub_rows (sub, rowid_, key, cells) VALUES (?, ?, ?, ?) ON CONFLICT (sub, rowid_) DO UPDATE SET key = excluded.key, cells = excluded.cells',
    ),
    deleteRow: db.prepare('DELETE FROM patina_sub_rows WHERE sub = ? AND rowid_ = ?'),
    insertChange: db.prepare(
      'INSERT INTO patina_sub_changes (sub, id, type, rowid_, cells, at_ms) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    changesAfter: db.prepare<
      [string, number, number],
      { id: number; type: StoredChangeType; rowid_: number; cells: string; at_ms: number }
    >(
      'SELECT id, type, rowid_, cells, at_ms FROM patina_sub_changes WHERE sub = ? AND id > ? ORDER BY id LIMIT ?',
    ),
    minChange: db.prepare<[string], { m: number | null }>(
      'SELECT min(id) AS m FROM patina_sub_changes WHERE sub = ?',
    ),
    purgeCount: db.prepare('DELETE FROM patina_sub_changes WHERE sub = ? AND id <= ?'),
    purgeAge: db.prepare('DELETE FROM patina_sub_changes WHERE sub = ? AND at_ms < ?'),
    delSub: db.prepare('DELETE FROM patina_subs WHERE id = ?'),
    delRows: db.prepare('DELETE FROM patina_sub_rows WHERE sub = ?'),
    delChanges: db.prepare('DELETE FROM patina_sub_changes WHERE sub = ?'),
  }

  const create = db.transaction((rec: SubRecord, rows: readonly StoredRow[]) => {
    s.insertSub.run(
      rec.id,
      rec.sql,
      rec.params,
      rec.hash,
      rec.lastChangeId,
      rec.nextRowid,
      rec.createdAtMs,
      rec.columns === null ? null : JSON.stringify(rec.columns),
    )
    for (const r of rows) s.upsertRow.run(rec.id, r.rowid, r.key, r.cells)
  })
  const commit = db.transaction((id: string, b: SubBatch) => {
    for (const rowid of b.deletes) s.deleteRow.run(id, rowid)
    for (const r of b.upserts) s.upsertRow.run(id, r.rowid, r.key, r.cells)
    for (const c of b.changes) s.insertChange.run(id, c.changeId, c.type, c.rowid, c.cells, c.atMs)
    s.updateSub.run(b.lastChangeId, b.nextRowid, id)
  })
  const del = db.transaction((id: string) => {
    s.delRows.run(id)
    s.delChanges.run(id)
    s.delSub.run(id)
  })
  const purge = db.transaction((id: string, maxCount: number, beforeMs: number): number => {
    const rec = s.get.get(id)
    if (!rec) return 0
    let n = s.purgeCount.run(id, rec.last_change_id - maxCount).changes
    n += s.purgeAge.run(id, beforeMs).changes
    return n
  })

  return {
    list: () => s.list.all().map(toRecord),
    get: (id) => {
      const r = s.get.get(id)
      return r ? toRecord(r) : undefined
    },
    create: (rec, rows) => create(rec, rows),
    rows: (id) => s.rows.all(id).map((r) => ({ rowid: r.rowid_, key: r.key, cells: r.cells })),
    commit: (id, batch) => commit(id, batch),
    changesAfter: (id, afterId, limit) =>
      s.changesAfter
        .all(id, afterId, limit)
        .map((r) => ({ changeId: r.id, type: r.type, rowid: r.rowid_, cells: r.cells, atMs: r.at_ms })),
    minChangeId: (id) => s.minChange.get(id)?.m ?? null,
    purge: (id, o) => purge(id, o.maxCount, o.beforeMs),
    delete: (id) => del(id),
    close: () => db.close(),
  }
}
