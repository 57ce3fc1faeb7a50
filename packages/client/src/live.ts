import type { JsonSqlValue, JsonStatement, RowId, WaitFor } from '@patina/api'
import { BACKOFF_DEFAULTS, backoffDelayMs, type BackoffOptions } from './backoff.js'
import type { ClientLogger, PatinaClient } from './client.js'
import { PatinaClientError, isPatinaClientError } from './errors.js'
import type { WorkerPool } from './pool.js'
import type { SubscriptionStream } from './streams.js'
import { createMaterializedView, type ViewDelta } from './view.js'
import { shouldSwitchWorker } from './workers.js'
import { componentLogger } from './log.js'

/** Options of {@link PatinaClient.watch}. */
export interface WatchOptions {
  /**
   * Columns that identify a row across workers (usually the primary key). Rows are matched by
   * them when a snapshot from another worker is reconciled, and indexed for `findByKey`.
   * Without them a row's identity is its whole content.
   */
  keyColumns?: string[]
  /** Read-your-writes: each worker waits until this write is applied before its snapshot. */
  waitFor?: WaitFor
  /** How long a worker may wait for `waitFor`, in milliseconds. */
  waitTimeoutMs?: number
  /** Rows to start from (warm restart, e.g. a saved view): the first snapshot is reconciled against them. */
  initialState?: { columns: string[]; rows: Iterable<readonly [RowId, JsonSqlValue[]]> }
  /** Reconnection backoff. Default `{ baseMs: 100, maxMs: 5000, factor: 2, jitter: 0.2 }`. */
  backoff?: Partial<BackoffOptions>
  /** Consecutive failed attempts on one worker before failing over to the next. Default 3. */
  resumeAttempts?: number
  /** Deadline for a (re)connection to answer with headers, in milliseconds. Default 10 000. */
  connectTimeoutMs?: number
  /** Reconnect after this many milliseconds without a byte from the worker. 0 = never (default; health probes detect dead workers). */
  idleTimeoutMs?: number
  /** Events an iterator may have queued before it fails with `PATINA_ERR_SLOW_CONSUMER`. Default 100 000. */
  maxQueuedEvents?: number
  /** Closes the subscription when aborted. */
  signal?: AbortSignal
}

export const WATCH_DEFAULTS = Object.freeze({
  resumeAttempts: 3,
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 0,
  maxQueuedEvents: 100_000,
})

/**
 * A row change as the consumer sees it. `rowid` is the live view's own stable id (see
 * `MaterializedView`); `seq` numbers the changes 1, 2, 3… over the subscription's life, across
 * reconnections and failovers, so a consumer can check it missed nothing.
 * `source`: `snapshot` (first snapshot into an empty view), `change` (a live change), or
 * `reconcile` (a difference found when a fresh snapshot was compared with the view).
 */
export interface LiveChange extends ViewDelta {
  seq: number
  source: 'snapshot' | 'change' | 'reconcile'
  worker: string
}

/** Why a snapshot was (re)taken. */
export type SyncReason = 'initial' | 'resubscribe' | 'failover' | 'switch'

export type LiveEvent =
  | LiveChange
  | { type: 'columns'; columns: string[] }
  | { type: 'synced'; worker: string; changeId: number; rows: number; reason: SyncReason }

export type LiveState = 'connecting' | 'syncing' | 'live' | 'reconnecting' | 'closed' | 'failed'

/** Where a live subscription stands, and how fresh its data is. */
export interface LiveStatus {
  state: LiveState
  /** The worker it is (or was last) attached to. */
  worker: string | null
  subscriptionId: string | null
  /** The worker-side change id last applied. */
  changeId: number | null
  /** A snapshot from a worker has been applied at least once. */
  synced: boolean
  /** The view holds rows (from a worker or from `initialState`). */
  hasState: boolean
  /** Wall-clock ms when it last heard from its worker (a stream byte, a connection, or a health probe while attached); null if never. */
  lastHeardAt: number | null
  /** Milliseconds since `lastHeardAt` (null if never). */
  lagMs: number | null
  /** The attached worker's own p99 apply lag in ms (from its health answer), when known. */
  workerLagMs: number | null
  rows: number
  /** `seq` of the last change emitted. */
  seq: number
  counters: {
    changes: number
    resumes: number
    resubscribes: number
    failovers: number
    switches: number
    missedChanges: number
    errors: number
  }
  lastError: string | null
}

type Listener<T> = (v: T) => void
interface Listeners {
  change: Listener<LiveChange>
  event: Listener<LiveEvent>
  status: Listener<LiveStatus>
  error: Listener<PatinaClientError>
}

/**
 * A live subscription: an async iterator of {@link LiveEvent}s and a materialized view that
 * stays current. Dropped connections resume with `from=<last change id>` on the same worker,
 * with backoff; a gap in change ids re-subscribes and reconciles (never skips); a worker that is
 * gone is replaced by the next one (fresh snapshot reconciled against the view, emitting only
 * real differences); when a nearer worker is healthy again the subscription moves back to it.
 *
 * Each `for await` gets the events emitted after it started (start iterating before awaiting
 * anything to see the first snapshot); read `rows` for the state.
 */
export interface LiveSubscription extends AsyncIterable<LiveEvent> {
  readonly columns: readonly string[]
  /** Local rowid → cells. */
  readonly rows: ReadonlyMap<RowId, JsonSqlValue[]>
  get(rowid: RowId): JsonSqlValue[] | undefined
  /** Rows whose `keyColumns` equal `key` (values compared as text). Needs `keyColumns`. */
  findByKey(key: readonly (string | JsonSqlValue)[]): Array<{ rowid: RowId; cells: JsonSqlValue[] }>
  /** Resolves when the first snapshot from a worker has been applied; rejects if the subscription fails or closes first. */
  readonly ready: Promise<void>
  status(): LiveStatus
  readonly lastHeardAt: number | null
  readonly lagMs: number | null
  on<K extends keyof Listeners>(event: K, listener: Listeners[K]): () => void
  off<K extends keyof Listeners>(event: K, listener: Listeners[K]): void
  close(): Promise<void>
}

export interface LiveDeps {
  client: PatinaClient
  pool: WorkerPool
  logger: ClientLogger
  now: () => number
  random: () => number
  onClose?: (l: LiveSubscription) => void
}

const SWITCH = Symbol('switch worker')
const STALL = Symbol('worker stalled')

interface Session {
  worker: string
  id: string
  /** null until the snapshot's eoq */
  lastChangeId: number | null
}

interface Cursor {
  buf: LiveEvent[]
  wake: (() => void) | null
  error: unknown
  done: boolean
}

export function createLiveSubscription(
  deps: LiveDeps,
  statement: JsonStatement,
  opts: WatchOptions,
): LiveSubscription {
  const { client, pool, now, random } = deps
  const log = componentLogger(deps.logger, 'live-subscription')
  const backoff: BackoffOptions = { ...BACKOFF_DEFAULTS, ...opts.backoff }
  const resumeAttempts = opts.resumeAttempts ?? WATCH_DEFAULTS.resumeAttempts
  const connectTimeoutMs = opts.connectTimeoutMs ?? WATCH_DEFAULTS.connectTimeoutMs
  const idleTimeoutMs = opts.idleTimeoutMs ?? WATCH_DEFAULTS.idleTimeoutMs
  const maxQueued = opts.maxQueuedEvents ?? WATCH_DEFAULTS.maxQueuedEvents
  const view = createMaterializedView({ keyColumns: opts.keyColumns })
  if (opts.initialState) view.load(opts.initialState.columns, opts.initialState.rows)

  const listeners: { [K in keyof Listeners]: Set<Listeners[K]> } = {
    change: new Set(),
    event: new Set(),
    status: new Set(),
    error: new Set(),
  }
  const cursors = new Set<Cursor>()
  let state: LiveState = 'connecting'
  let session: Session | null = null
  let lastWorker: string | null = null
  let resubscribe = false
  let switchTo: string | null = null
  let current: AbortController | null = null
  let closed = false
  let synced = false
  let lastHeardAt: number | null = null
  let lastError: string | null = null
  let seq = 0
  let pendingReason: SyncReason | null = null
  const counters = {
    changes: 0,
    resumes: 0,
    resubscribes: 0,
    failovers: 0,
    switches: 0,
    missedChanges: 0,
    errors: 0,
  }
  let wakeSleep: (() => void) | null = null

  let resolveReady!: () => void
  let rejectReady!: (e: unknown) => void
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res
    rejectReady = rej
  })
  ready.catch(() => {})

  const emit = <K extends keyof Listeners>(k: K, v: Parameters<Listeners[K]>[0]): void => {
    for (const l of [...listeners[k]]) {
      try {
        ;(l as Listener<typeof v>)(v)
      } catch (err) {
        log.warn({ err, listener: k }, 'live subscription listener threw')
      }
    }
  }
  const push = (ev: LiveEvent): void => {
    for (const c of cursors) {
      if (c.done || c.error !== undefined) continue
      if (c.buf.length >= maxQueued) {
        c.buf = []
        c.error = new PatinaClientError(
          'PATINA_ERR_SLOW_CONSUMER',
          `live subscription iterator fell behind by more than maxQueuedEvents ${maxQueued} events`,
        )
      } else c.buf.push(ev)
      c.wake?.()
    }
    emit('event', ev)
  }
  const status = (): LiveStatus => {
    const w = session?.worker ?? lastWorker
    const ws = w === null ? undefined : pool.get(w)
    return {
      state,
      worker: w,
      subscriptionId: session?.id ?? null,
      changeId: session?.lastChangeId ?? null,
      synced,
      hasState: synced || view.rows.size > 0 || view.columns.length > 0,
      lastHeardAt,
      lagMs: lastHeardAt === null ? null : Math.max(0, now() - lastHeardAt),
      workerLagMs: ws?.p99LagMs ?? null,
      rows: view.rows.size,
      seq,
      counters: { ...counters },
      lastError,
    }
  }
  const setState = (s: LiveState): void => {
    if (state === s) return
    state = s
    emit('status', status())
  }
  const heard = (): void => {
    lastHeardAt = now()
  }
  const emitChange = (d: ViewDelta, source: LiveChange['source'], worker: string): void => {
    seq++
    counters.changes++
    const ev: LiveChange = { ...d, seq, source, worker }
    emit('change', ev)
    push(ev)
  }
  const noteError = (err: PatinaClientError): void => {
    counters.errors++
    lastError = err.message
    emit('error', err)
  }

  const finishSnapshot = (
    worker: string,
    columns: readonly string[],
    snapshot: Array<[RowId, JsonSqlValue[]]>,
    changeId: number,
  ): void => {
    const first = !synced && view.rows.size === 0 && view.columns.length === 0
    const colsChanged = !(
      columns.length === view.columns.length && columns.every((c, i) => c === view.columns[i])
    )
    const deltas = view.reconcile(columns, snapshot)
    if (colsChanged) push({ type: 'columns', columns: [...columns] })
    for (const d of deltas) emitChange(d, first ? 'snapshot' : 'reconcile', worker)
    if (session) session.lastChangeId = changeId
    const reason = pendingReason ?? 'initial'
    pendingReason = null
    if (reason === 'failover') counters.failovers++
    synced = true
    lastError = null
    push({ type: 'synced', worker, changeId, rows: view.rows.size, reason })
    setState('live')
    emit('status', status())
    resolveReady()
  }

  const peekTarget = (): string | null => {
    if (switchTo !== null) {
      const w = pool.get(switchTo)
      if (w && w.state !== 'down') return switchTo
    }
    if (session) {
      const w = pool.get(session.worker)
      if (w && w.state !== 'down') return session.worker
    }
    return pool.best()?.url ?? null
  }

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(done, ms)
      function done(): void {
        clearTimeout(t)
        wakeSleep = null
        resolve()
      }
      wakeSleep = done
    })

  const attempt = async (target: string, ac: AbortController): Promise<void> => {
    const common = {
      worker: target,
      signal: ac.signal,
      timeoutMs: connectTimeoutMs,
      idleTimeoutMs,
    }
    let stream: SubscriptionStream
    if (session && session.worker === target && !resubscribe && session.lastChangeId !== null) {
      counters.resumes++
      stream = await client.subscription(session.id, { ...common, from: session.lastChangeId })
      pendingReason = null
    } else {
      if (pendingReason === null)
        pendingReason = !synced
          ? 'initial'
          : lastWorker === target
            ? 'resubscribe'
            : (switchReason ?? 'failover')
      if (pendingReason === 'resubscribe') counters.resubscribes++
      const rw = {
        ...(opts.waitFor !== undefined ? { waitFor: opts.waitFor } : {}),
        ...(opts.waitTimeoutMs !== undefined ? { waitTimeoutMs: opts.waitTimeoutMs } : {}),
      }
      stream = await client.subscribe(statement, { ...common, ...rw })
      session = { worker: target, id: stream.id, lastChangeId: null }
      resubscribe = false
      view.resetMapping()
    }
    lastWorker = target
    switchReason = null
    heard()
    setState(session.lastChangeId === null ? 'syncing' : 'live')
    let snapCols: string[] | null = null
    let snapshot: Array<[RowId, JsonSqlValue[]]> | null = null
    try {
      for await (const ev of stream) {
        heard()
        if ('columns' in ev) {
          snapCols = ev.columns
          snapshot = []
        } else if ('row' in ev) {
          ;(snapshot ??= []).push([ev.row[0], ev.row[1]])
        } else if ('eoq' in ev) {
          if (snapshot !== null || session.lastChangeId === null) {
            finishSnapshot(target, snapCols ?? view.columns, snapshot ?? [], ev.eoq.change_id ?? 0)
            snapshot = null
            snapCols = null
            workerFailures = 0
            totalFailures = 0
          }
        } else if ('change' in ev) {
          if (session.lastChangeId === null)
            throw new PatinaClientError(
              'PATINA_ERR_NDJSON',
              `subscription on ${target} sent a change before its snapshot ended`,
            )
          const [type, rowid, cells, cid] = ev.change
          session.lastChangeId = cid
          const d = view.applyChange(type, rowid, cells)
          if (d) emitChange(d, 'change', target)
          workerFailures = 0
          totalFailures = 0
        } else if ('error' in ev) {
          throw new PatinaClientError('PATINA_ERR_HTTP', `subscription on ${target} reported: ${ev.error}`, {
            serverMessage: ev.error,
            httpStatus: 200,
          })
        }
      }
    } finally {
      stream.close()
    }
    throw new PatinaClientError('PATINA_ERR_HTTP', `subscription stream from ${target} ended`)
  }

  let workerFailures = 0
  let failingWorker: string | null = null
  let totalFailures = 0
  let switchReason: SyncReason | null = null

  const fail = (err: unknown): void => {
    const e =
      err instanceof PatinaClientError
        ? err
        : new PatinaClientError('PATINA_ERR_INTERNAL', `live subscription failed: ${String(err)}`, {
            cause: err,
          })
    noteError(e)
    closed = true
    setState('failed')
    rejectReady(e)
    for (const c of cursors) {
      c.error = e
      c.wake?.()
    }
  }

  const isFatal = (err: unknown, resumed: boolean): boolean => {
    if (!isPatinaClientError(err)) return !(err === SWITCH || err === STALL)
    if (err.code === 'PATINA_ERR_PARAM_INVALID' || err.code === 'PATINA_ERR_CONFIG_INVALID') return true
    const s = err.httpStatus
    if (resumed || s === undefined || s === 200) return false
    return s >= 400 && s < 500 && ![404, 408, 409, 425, 429].includes(s)
  }

  const run = async (): Promise<void> => {
    const release = pool.acquire()
    const offProbe = pool.onProbe(onProbe)
    try {
      if (pool.list().length > 1 || pool.options.discover) await pool.probeNow()
      while (!closed) {
        const target = peekTarget()
        if (switchTo !== null && target === switchTo) {
          switchReason = 'switch'
          counters.switches++
        }
        switchTo = null
        if (target === null) {
          const e = new PatinaClientError('PATINA_ERR_NO_WORKER', 'no worker configured or discovered')
          noteError(e)
          setState('reconnecting')
          await sleep(backoffDelayMs(totalFailures++, backoff, random()))
          await pool.probeNow()
          continue
        }
        if (failingWorker !== target) {
          failingWorker = target
          workerFailures = 0
        }
        const ac = new AbortController()
        current = ac
        const resumed =
          session !== null && session.worker === target && !resubscribe && session.lastChangeId !== null
        try {
          await attempt(target, ac)
        } catch (err) {
          current = null
          if (closed) break
          const reason: unknown = ac.signal.aborted ? ac.signal.reason : undefined
          if (reason === SWITCH) continue
          if (isFatal(err, resumed)) {
            fail(err)
            break
          }
          const e = isPatinaClientError(err)
            ? err
            : new PatinaClientError(
                'PATINA_ERR_HTTP',
                reason === STALL
                  ? `worker ${target} stopped answering health probes`
                  : `worker ${target} failed: ${String(err)}`,
                { cause: err },
              )
          noteError(e)
          log.debug({ err: e.message, worker: target }, 'live subscription interrupted')
          if (e.code === 'PATINA_ERR_MISSED_CHANGE') counters.missedChanges++
          // gaps, lost subscriptions and server-side error events need a fresh snapshot
          if (
            e.code === 'PATINA_ERR_MISSED_CHANGE' ||
            (resumed && e.httpStatus !== undefined && e.httpStatus >= 400 && e.httpStatus < 500) ||
            e.httpStatus === 200
          )
            resubscribe = true
          const lostSubscription = resumed && e.httpStatus === 404
          if (!lostSubscription) {
            workerFailures++
            totalFailures++
          }
          const w = pool.get(target)
          if (
            reason === STALL ||
            workerFailures >= resumeAttempts ||
            (w?.state === 'down' && workerFailures > 0)
          ) {
            pool.markDown(target)
            workerFailures = 0
          }
          setState('reconnecting')
          const next = peekTarget()
          const nextState = next === null ? undefined : pool.get(next)?.state
          if (lostSubscription || (next !== null && next !== target && nextState !== 'down')) continue
          await sleep(backoffDelayMs(Math.max(0, totalFailures - 1), backoff, random()))
        }
      }
    } finally {
      offProbe()
      release()
    }
  }

  const onProbe = (): void => {
    if (closed) return
    if (state === 'reconnecting' && wakeSleep !== null) {
      const b = pool.best()
      if (b && b.state !== 'down') wakeSleep()
    }
    if ((state !== 'live' && state !== 'syncing') || session === null || current === null) return
    const cur = pool.get(session.worker)
    if (cur === undefined || cur.state === 'down') {
      // the worker stopped answering probes: its stream may be stalled rather than closed
      current.abort(STALL)
      return
    }
    if (state !== 'live') return
    heard()
    const best = pool.best()
    if (best && shouldSwitchWorker(cur, best, pool.options.switchPolicy)) {
      log.info({ from: cur.url, to: best.url }, 'moving subscription to a preferred worker')
      switchTo = best.url
      current.abort(SWITCH)
    }
  }

  let runPromise: Promise<void> | null = null
  const live: LiveSubscription = {
    get columns() {
      return view.columns
    },
    rows: view.rows,
    get: (rowid) => view.get(rowid),
    findByKey: (key) =>
      view.findByKey(key).map((rowid) => ({ rowid, cells: view.get(rowid) as JsonSqlValue[] })),
    ready,
    status,
    get lastHeardAt() {
      return lastHeardAt
    },
    get lagMs() {
      return lastHeardAt === null ? null : Math.max(0, now() - lastHeardAt)
    },
    on(k, l) {
      ;(listeners[k] as Set<typeof l>).add(l)
      return () => live.off(k, l)
    },
    off(k, l) {
      ;(listeners[k] as Set<typeof l>).delete(l)
    },
    async close() {
      if (!closed) {
        closed = true
        setState('closed')
      }
      current?.abort(new PatinaClientError('PATINA_ERR_CLOSED', 'live subscription closed'))
      wakeSleep?.()
      rejectReady(
        new PatinaClientError('PATINA_ERR_CLOSED', 'live subscription closed before its first snapshot'),
      )
      for (const c of cursors) {
        c.done = true
        c.wake?.()
      }
      await runPromise
      deps.onClose?.(live)
    },
    [Symbol.asyncIterator]() {
      const c: Cursor = { buf: [], wake: null, error: undefined, done: closed && state !== 'failed' }
      cursors.add(c)
      return {
        async next(): Promise<IteratorResult<LiveEvent>> {
          for (;;) {
            const ev = c.buf.shift()
            if (ev !== undefined) return { value: ev, done: false }
            if (c.error !== undefined) {
              cursors.delete(c)
              const e = c.error
              c.error = undefined
              c.done = true
              throw e
            }
            if (c.done || (closed && state === 'failed')) {
              cursors.delete(c)
              return { value: undefined, done: true }
            }
            await new Promise<void>((r) => (c.wake = r))
            c.wake = null
          }
        },
        async return(): Promise<IteratorResult<LiveEvent>> {
          c.done = true
          cursors.delete(c)
          return { value: undefined, done: true }
        },
      }
    },
  }

  if (opts.signal) {
    if (opts.signal.aborted) queueMicrotask(() => void live.close())
    else opts.signal.addEventListener('abort', () => void live.close(), { once: true })
  }
  runPromise = run().catch((err: unknown) => fail(err))
  return live
}
