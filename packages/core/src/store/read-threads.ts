import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { PatinaError, type SqlValue } from '@patina/api'
import type { AsyncQueryCursor, AsyncQueryOptions, Statement } from '../types.js'
import type { ToMain, ToWorker, WorkerInit } from './read-protocol.js'

/**
 * Read threads: client queries run on `worker_threads` with read connections of their own, so
 * that no query holds the main thread (gossip, membership probes, sync, the API) however long
 * it runs. A statement still stops at its deadline inside SQLite on its thread; the main thread
 * keeps the same deadline with a timer for a query whose reader stopped reading.
 *
 * At most `threads` run at once (started on first use, kept while the engine is open); more
 * queries wait in order, their deadline running. A query holds its thread until its last row
 * was read or it was closed.
 */

export interface ReadThreadsOptions {
  /** Database file. */
  path: string
  /** This node's actor id (`crsql_site_id` on the threads' connections, `compat.ts`). */
  actorId(): string
  /** The last db version committed (`crsql_db_version()`), sent with each query. */
  dbVersion(): number
  /**
   * Stops the statement running on the connection keyed `key` now (`DeadlineGuard.cancel` on a
   * connection of this thread): a cancelled query never waits for its thread to look up.
   */
  cancel(key: Uint8Array): void
  /** Most read threads. */
  threads: number
  batchRows?: number
  batchBytes?: number
  batchMs?: number
  window?: number
}

const DEFAULTS = { batchRows: 1024, batchBytes: 256 * 1024, batchMs: 20, window: 2 }

/** The worker's entry: the `.ts` source under tests and `patina` scripts, the `.js` build otherwise. */
const here = import.meta.url
const fromSource = here.endsWith('.ts')
const workerUrl = new URL(fromSource ? './read-worker.ts' : './read-worker.js', here)

function spawn(init: WorkerInit): Worker {
  if (!fromSource) return new Worker(workerUrl, { workerData: init })
  // Running from TypeScript sources: the thread registers tsx, then loads the worker, and
  // resolves @patina/* to their sources like the main thread does.
  const tsx = createRequire(here)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs')
  const boot = `const { register } = await import(${JSON.stringify(pathToFileURL(tsx).href)});
register();
await import(${JSON.stringify(workerUrl.href)});`
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), {
    workerData: init,
    execArgv: ['--conditions=source'],
  })
}

interface Request {
  id: number
  sql: string
  params: Statement['params']
  timeoutMs: number | undefined
  exactIntegers: boolean
  /** performance.now() when the deadline passes (Infinity without one). */
  deadlineAt: number
  timer: NodeJS.Timeout | null
  thread: Thread | null
  /** Set once the first batch (or an error) arrived. */
  settle: { resolve(c: AsyncQueryCursor): void; reject(e: PatinaError): void } | null
  columns: AsyncQueryCursor['columns']
  batches: SqlValue[][][]
  /** The worker sent its last batch. */
  done: boolean
  error: PatinaError | null
  /** The reader closed the cursor (or it failed): no more messages matter. */
  closed: boolean
  wake: (() => void) | null
}

interface Thread {
  worker: Worker
  /** Key of the thread's connection deadline. */
  key: Uint8Array
  ready: boolean
  current: Request | null
}

export class ReadThreads {
  private readonly init: Omit<WorkerInit, 'key'>
  private readonly threads = new Set<Thread>()
  private readonly idle: Thread[] = []
  private readonly waiting: Request[] = []
  private nextId = 1
  private closed = false
  /** Threads started and not ready yet. */
  private starting = 0
  /** Queries stopped by their deadline (on the thread or by the main thread's timer). */
  interrupts = 0

  constructor(private readonly opts: ReadThreadsOptions) {
    this.init = {
      path: opts.path,
      actorId: opts.actorId(),
      batchRows: opts.batchRows ?? DEFAULTS.batchRows,
      batchBytes: opts.batchBytes ?? DEFAULTS.batchBytes,
      batchMs: opts.batchMs ?? DEFAULTS.batchMs,
      window: opts.window ?? DEFAULTS.window,
    }
  }

  /** Threads started, threads running a query, and queries waiting for a thread. */
  stats(): { threads: number; busy: number; waiting: number } {
    let busy = 0
    for (const t of this.threads) if (t.current !== null) busy++
    return { threads: this.threads.size, busy, waiting: this.waiting.length }
  }

  /**
   * Runs one read-only statement on a read thread. Resolves once its first rows (or its end)
   * arrived, so that an error before any row (a bad statement, a write, its deadline) rejects.
   */
  query(sql: string, params: Statement['params'], opts: AsyncQueryOptions = {}): Promise<AsyncQueryCursor> {
    if (this.closed) return Promise.reject(new PatinaError('PATINA_ERR_CLOSED', 'the state engine is closed'))
    if (opts.signal?.aborted === true) return Promise.reject(cancelled())
    return new Promise<AsyncQueryCursor>((resolve, reject) => {
      const ms = opts.timeoutMs
      const req: Request = {
        id: this.nextId++,
        sql,
        params,
        timeoutMs: ms,
        exactIntegers: opts.exactIntegers === true,
        deadlineAt: ms === undefined ? Infinity : performance.now() + ms,
        timer: null,
        thread: null,
        settle: { resolve, reject },
        columns: [],
        batches: [],
        done: false,
        error: null,
        closed: false,
        wake: null,
      }
      if (ms !== undefined) {
        req.timer = setTimeout(() => this.fail(req, timeout(ms)), ms)
        req.timer.unref?.()
      }
      opts.signal?.addEventListener('abort', () => this.fail(req, cancelled()), { once: true })
      this.waiting.push(req)
      this.dispatch()
    })
  }

  /**
   * Stops every thread; running queries fail with PATINA_ERR_CLOSED. Their statements are
   * cancelled at once (synchronously, while the caller's connection is still open); each thread
   * then closes its connection and exits. A thread is terminated only if it has not exited
   * after `graceMs`: terminating one inside a statement would crash the process (better-sqlite3
   * cannot throw into a terminating isolate).
   */
  async close(graceMs = 10_000): Promise<void> {
    if (this.closed) return
    this.closed = true
    const err = new PatinaError('PATINA_ERR_CLOSED', 'the state engine is closed')
    for (const r of this.waiting.splice(0)) this.fail(r, err)
    const exits: Promise<unknown>[] = []
    for (const t of this.threads) {
      if (t.current !== null) this.fail(t.current, err)
      const exited = new Promise<void>((resolve) => t.worker.once('exit', () => resolve()))
      this.post(t, { type: 'close' })
      exits.push(
        Promise.race([exited, new Promise<'late'>((r) => setTimeout(() => r('late'), graceMs).unref())]).then(
          (how) => (how === 'late' ? t.worker.terminate() : undefined),
        ),
      )
    }
    this.threads.clear()
    this.idle.length = 0
    await Promise.allSettled(exits)
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      const t = this.idle.pop()
      if (t === undefined) {
        // Start threads for the queries that wait, as far as the limit allows.
        while (this.starting < this.waiting.length && this.threads.size < this.opts.threads) this.start()
        return
      }
      const req = this.waiting.shift() as Request
      if (req.closed) {
        this.idle.push(t)
        continue
      }
      const left = req.deadlineAt - performance.now()
      if (left <= 0) {
        this.idle.push(t)
        this.fail(req, timeout(req.timeoutMs as number))
        continue
      }
      t.current = req
      req.thread = t
      this.post(t, {
        type: 'query',
        id: req.id,
        sql: req.sql,
        params: req.params,
        exactIntegers: req.exactIntegers,
        dbVersion: this.opts.dbVersion(),
        actorId: this.opts.actorId(),
        ...(req.timeoutMs === undefined ? {} : { timeoutMs: Math.ceil(left) }),
      })
    }
  }

  private start(): void {
    const key = randomBytes(32)
    const worker = spawn({ ...this.init, key })
    const t: Thread = { worker, key, ready: false, current: null }
    this.threads.add(t)
    this.starting++
    worker.unref()
    worker.on('message', (m: ToMain) => this.onMessage(t, m))
    const lost = (why: string): void => {
      if (!this.threads.delete(t)) return
      const i = this.idle.indexOf(t)
      if (i >= 0) this.idle.splice(i, 1)
      if (t.current !== null) {
        this.fail(t.current, new PatinaError('PATINA_ERR_INTERNAL', `a read thread stopped: ${why}`))
        t.current = null
      }
      if (!t.ready) {
        // It never started (and the next would not either): fail what waits, start again on
        // the next query.
        this.starting--
        const err = new PatinaError('PATINA_ERR_INTERNAL', `a read thread could not start: ${why}`)
        for (const r of this.waiting.splice(0)) this.fail(r, err)
        return
      }
      if (!this.closed) this.dispatch()
    }
    worker.on('error', (err) => lost(err.message))
    worker.on('exit', (code) => lost(`exit code ${code}`))
  }

  private post(t: Thread, m: ToWorker): void {
    t.worker.postMessage(m)
  }

  private onMessage(t: Thread, m: ToMain): void {
    if (m.type === 'ready') {
      t.ready = true
      this.starting--
      this.idle.push(t)
      this.dispatch()
      return
    }
    if (m.type === 'failed') {
      // The thread could not open its connection (the same would happen to every thread):
      // fail what waits, and let the next query try again.
      this.threads.delete(t)
      this.starting--
      void t.worker.terminate()
      const err = new PatinaError(m.code, m.message)
      for (const r of this.waiting.splice(0)) this.fail(r, err)
      return
    }
    const req = t.current
    if (m.type === 'end') {
      // (req.thread is cleared by stop(); t.current until the thread says it is free.)
      if (req !== null && req.id === m.id) {
        t.current = null
        if (!req.done && req.error === null)
          this.fail(req, new PatinaError('PATINA_ERR_INTERNAL', 'a read ended early'))
      }
      if (this.threads.has(t)) {
        this.idle.push(t)
        this.dispatch()
      }
      return
    }
    if (req !== null && req.id === m.id && req.thread === null && m.type === 'columns') {
      // Cancelled before the thread had armed its deadline (the cancel then found nothing to
      // stop): it is armed now that it announces its columns, so stop it again.
      this.opts.cancel(t.key)
    }
    if (req === null || req.id !== m.id || req.closed || req.error !== null) return
    switch (m.type) {
      case 'columns':
        req.columns = m.columns
        return
      case 'rows':
        req.batches.push(m.rows)
        if (m.done) this.finishTimer(req, true)
        this.settleOk(req)
        this.wake(req)
        return
      case 'error':
        this.fail(req, new PatinaError(m.code, m.message))
        return
    }
  }

  private finishTimer(req: Request, done: boolean): void {
    if (done) req.done = true
    if (req.timer !== null) {
      clearTimeout(req.timer)
      req.timer = null
    }
  }

  private settleOk(req: Request): void {
    const s = req.settle
    if (s === null) return
    req.settle = null
    s.resolve(this.cursor(req))
  }

  /** Ends a request with an error: the caller's promise, or the cursor's next read. */
  private fail(req: Request, err: PatinaError): void {
    if (req.closed || req.error !== null) return
    this.finishTimer(req, false)
    req.error = err
    if (err.code === 'PATINA_ERR_TIMEOUT') this.interrupts++
    // A reader that stopped reading must not keep the thread: stop the statement now.
    this.stop(req)
    const s = req.settle
    if (s !== null) {
      req.settle = null
      s.reject(err)
      this.close1(req)
    }
    this.wake(req)
  }

  private wake(req: Request): void {
    const w = req.wake
    req.wake = null
    w?.()
  }

  /** The reader is done with the request: stop the thread's statement if it still runs. */
  private close1(req: Request): void {
    if (req.closed) return
    req.closed = true
    this.finishTimer(req, false)
    req.batches = []
    const i = this.waiting.indexOf(req)
    if (i >= 0) this.waiting.splice(i, 1)
    this.stop(req)
  }

  /** Cancels the request's statement on its thread, if it still runs there. */
  private stop(req: Request): void {
    const t = req.thread
    if (t === null || t.current !== req || !this.threads.has(t) || req.done) return
    req.thread = null
    // Stop the statement where it is (the thread may be inside a long step), then tell the
    // thread, which frees its connection and answers `end`.
    this.opts.cancel(t.key)
    this.post(t, { type: 'cancel', id: req.id })
  }

  private cursor(req: Request): AsyncQueryCursor {
    const post = (m: ToWorker): void => {
      const t = req.thread
      if (t !== null && t.current === req) this.post(t, m)
    }
    const closeReq = (): void => this.close1(req)
    async function* batches(): AsyncGenerator<SqlValue[][]> {
      try {
        for (;;) {
          const b = req.batches.shift()
          if (b !== undefined) {
            if (!req.done) post({ type: 'more', id: req.id })
            yield b
            continue
          }
          if (req.error !== null) throw req.error
          if (req.done) return
          await new Promise<void>((resolve) => (req.wake = resolve))
        }
      } finally {
        closeReq()
      }
    }
    return { columns: req.columns, batches: batches(), close: closeReq }
  }
}

function cancelled(): PatinaError {
  return new PatinaError('PATINA_ERR_CLOSED', 'the query was cancelled by its caller')
}

function timeout(ms: number): PatinaError {
  return new PatinaError('PATINA_ERR_TIMEOUT', `query stopped: its deadline of ${ms} ms passed`)
}
