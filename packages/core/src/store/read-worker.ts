/**
 * A read thread (`worker_threads`): one read-only connection of its own (WAL lets it read while
 * the main thread writes), one query at a time, rows sent to the main thread in batches as it
 * grants credit. The statement runs under its deadline like on the main thread
 * (`openCursor`); the main thread's event loop is never held by it.
 *
 * Protocol (`read-protocol.ts`): `query` starts a statement, `more` grants one batch of
 * credit, `cancel` stops it; the worker answers `columns`, `rows`, `error` and always ends a
 * query with `end` once its connection is free again.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { PatinaError, type SqlValue } from '@patina/api'
import { valueSize } from '../crdt/values.js'
import type { QueryCursor } from '../types.js'
import { installCompat, type CompatSource } from './compat.js'
import { openReader } from './db.js'
import type { ToMain, ToWorker, WorkerInit } from './read-protocol.js'
import { openCursor } from './reads.js'

const port = parentPort
if (port === null) throw new Error('read-worker.ts runs as a worker thread')
const init = workerData as WorkerInit
const send = (m: ToMain): void => port.postMessage(m)

/**
 * What the cr-sqlite compatibility names read on this thread: the actor id and db version sent
 * with the query, and the known sites read from the database before each query (a virtual
 * table cannot run a statement of its own on the connection that is reading it).
 */
let dbVersion = 0
let sites: [number, string][] = []
const compat: CompatSource = { actorId: init.actorId, dbVersion: () => dbVersion, sites: () => sites }
/** Root page → table name, re-read when the schema changes (internal tables are refused by it). */
let rootPages: ReadonlyMap<number, string> = new Map()
let schemaVersion = -1
let conn: ReturnType<typeof openReader>
try {
  conn = openReader(init.path, init.key)
  installCompat(conn.db, compat)
} catch (err) {
  const pe = err instanceof PatinaError ? err : new PatinaError('PATINA_ERR_INTERNAL', String(err))
  send({ type: 'failed', code: pe.code, message: pe.message })
  process.exit(0)
}
send({ type: 'ready' })

interface Running {
  id: number
  cursor: QueryCursor
  credit: number
  scheduled: boolean
}
let current: Running | null = null
const NO_DEADLINE_MS = 2 ** 40

const errorOf = (err: unknown): { code: PatinaError['code']; message: string } =>
  err instanceof PatinaError
    ? { code: err.code, message: err.message }
    : { code: 'PATINA_ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) }

function finish(r: Running): void {
  if (current !== r) return
  current = null
  r.cursor.rows.return?.()
  send({ type: 'end', id: r.id })
}

/** Steps the cursor for one batch (bounded in rows, bytes and time), then yields to the loop. */
function pump(r: Running): void {
  r.scheduled = false
  if (current !== r) return
  while (r.credit > 0) {
    const rows: SqlValue[][] = []
    let bytes = 0
    const started = performance.now()
    let done = false
    try {
      while (rows.length < init.batchRows && bytes < init.batchBytes) {
        const next = r.cursor.rows.next()
        if (next.done === true) {
          done = true
          break
        }
        rows.push(next.value)
        for (const v of next.value) bytes += valueSize(v)
        if (performance.now() - started > init.batchMs) break
      }
    } catch (err) {
      // The rows read before the failure go first: an error after the first row is part of the
      // stream, not the answer to the request.
      if (rows.length > 0) send({ type: 'rows', id: r.id, rows, done: false })
      send({ type: 'error', id: r.id, ...errorOf(err) })
      finish(r)
      return
    }
    r.credit--
    send({ type: 'rows', id: r.id, rows, done })
    if (done) {
      finish(r)
      return
    }
    // Let a `cancel` or `more` in: continue on the next turn of the loop.
    if (r.credit > 0) {
      r.scheduled = true
      setImmediate(() => pump(r))
      return
    }
  }
}

/** Re-reads the known sites, and the root pages when the schema changed, before a query. */
function refreshCatalog(): void {
  const version = conn.db.pragma('schema_version', { simple: true }) as number
  if (version !== schemaVersion) {
    rootPages = new Map(
      conn.db
        .prepare<[], { rootpage: number; tbl_name: string }>(
          'SELECT rootpage, tbl_name FROM sqlite_schema WHERE rootpage > 0',
        )
        .all()
        .map((r) => [r.rootpage, r.tbl_name]),
    )
    schemaVersion = version
  }
  sites = conn.db
    .prepare<[], { ord: number; actor_id: string }>('SELECT ord, actor_id FROM __patina_sites')
    .all()
    .map((r) => [r.ord, r.actor_id])
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'query': {
      let cursor: QueryCursor
      dbVersion = m.dbVersion
      compat.actorId = m.actorId
      try {
        refreshCatalog()
        cursor = openCursor(
          conn,
          m.sql,
          m.params,
          // Always armed (without a deadline, one far away), so the main thread can cancel it.
          { timeoutMs: m.timeoutMs ?? NO_DEADLINE_MS, exactIntegers: m.exactIntegers },
          {
            eager: false,
            rootPages,
            onInterrupt: () => undefined,
            onRelease: () => undefined,
          },
        )
      } catch (err) {
        send({ type: 'error', id: m.id, ...errorOf(err) })
        send({ type: 'end', id: m.id })
        return
      }
      current = { id: m.id, cursor, credit: init.window, scheduled: false }
      send({ type: 'columns', id: m.id, columns: cursor.columns })
      pump(current)
      return
    }
    case 'more': {
      const r = current
      if (r === null || r.id !== m.id) return
      r.credit++
      if (!r.scheduled) pump(r)
      return
    }
    case 'cancel': {
      if (current !== null && current.id === m.id) finish(current)
      return
    }
    case 'close': {
      if (current !== null) finish(current)
      conn.db.close()
      port.close()
      return
    }
  }
})
