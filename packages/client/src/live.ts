/**
 * Live subscriptions (`client.watch`): the I/O around the decisions of `live-machine.ts`. This
 * module opens and reads the streams, feeds the materialized view, sleeps and probes; every
 * choice (where to connect, resume or resubscribe, fail over, move, give up) is the machine's.
 */
import type { JsonSqlValue, JsonStatement, RowId } from '@patina/api'
import { BACKOFF_DEFAULTS, backoffDelayMs, type BackoffOptions } from './backoff.js'
import { PatinaClientError, isPatinaClientError } from './errors.js'
import { contactAgeMs, isCutOff } from './freshness.js'
import { createEventHub } from './live-events.js'
import { createStandby } from './live-standby.js'
import {
  attemptFailed,
  changeEmitted,
  changeSeen,
  closeMachine,
  confirmMove,
  connected,
  initialMachine,
  noteError,
  onProbe,
  planAttempt,
  retryDelay,
  snapshotDone,
  type Attempt,
  type AttemptFailure,
  type LiveMachine,
} from './live-machine.js'
import type { WorkerPool } from './pool.js'
import type { SubscriptionStream } from './streams.js'
import type {
  ClientLogger,
  LiveChange,
  LiveStatus,
  LiveSubscription,
  PatinaClient,
  WatchOptions,
} from './types.js'
import { createMaterializedView, type ViewDelta } from './view.js'
import { componentLogger } from './log.js'

export const WATCH_DEFAULTS = Object.freeze({
  resumeAttempts: 3,
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 0,
  maxQueuedEvents: 100_000,
  standbyRetryMs: 5_000,
})

export interface LiveDeps {
  client: PatinaClient
  pool: WorkerPool
  logger: ClientLogger
  now: () => number
  random: () => number
  onClose?: (l: LiveSubscription) => void
}

/** Abort reasons of a stream the subscription drops itself. */
const SWITCH = Symbol('move to a better worker')
const LEAVE = Symbol('leave a cut-off worker')
const STALL = Symbol('worker stalled')

/** Nobody listens on the worker's port: its process is gone, so resuming there is pointless. */
const CONNECT_REFUSED = new Set(['ECONNREFUSED'])

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
  const view = createMaterializedView({ keyColumns: opts.keyColumns })
  if (opts.initialState) view.load(opts.initialState.columns, opts.initialState.rows)
  const hub = createEventHub(opts.maxQueuedEvents ?? WATCH_DEFAULTS.maxQueuedEvents, log)
  const standby =
    opts.standby === true
      ? createStandby({ client, pool, now, log }, statement, view, {
          retryMs: opts.standbyRetryMs ?? WATCH_DEFAULTS.standbyRetryMs,
          connectTimeoutMs,
        })
      : null

  let m: LiveMachine = initialMachine()
  let closed = false
  let current: AbortController | null = null
  let lastHeardAt: number | null = null
  let seq = 0
  let wakeSleep: (() => void) | null = null

  let resolveReady!: () => void
  let rejectReady!: (e: unknown) => void
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res
    rejectReady = rej
  })
  ready.catch(() => {})

  const lagMs = (): number | null => (lastHeardAt === null ? null : Math.max(0, now() - lastHeardAt))
  const status = (): LiveStatus => {
    const w = m.session?.worker ?? m.lastWorker
    const ws = w === null ? undefined : pool.get(w)
    const t = now()
    return {
      state: m.state,
      worker: w,
      subscriptionId: m.session?.id ?? null,
      changeId: m.session?.lastChangeId ?? null,
      synced: m.synced,
      hasState: m.synced || view.rows.size > 0 || view.columns.length > 0,
      lastHeardAt,
      lagMs: lagMs(),
      workerLagMs: ws?.p99LagMs ?? null,
      workerContactAgeMs: ws === undefined ? null : contactAgeMs(ws.freshness, ws.reportedAt, t),
      workerCutOff: ws !== undefined && isCutOff(ws.freshness, ws.reportedAt, t, pool.options.maxContactMs),
      rows: view.rows.size,
      seq,
      counters: { ...m.counters },
      standby: standby?.status() ?? null,
      lastError: m.lastError,
    }
  }
  /** Moves the machine; tells `status` listeners when the state changed. */
  const step = (next: LiveMachine): void => {
    const changed = next.state !== m.state
    m = next
    if (changed) hub.emit('status', status())
  }
  const heard = (): void => {
    lastHeardAt = now()
  }
  const emitChange = (d: ViewDelta, source: LiveChange['source'], worker: string): void => {
    standby?.viewChanged(d)
    seq++
    m = changeEmitted(m)
    const ev: LiveChange = { ...d, seq, source, worker }
    hub.emit('change', ev)
    hub.push(ev)
  }
  const reportError = (e: PatinaClientError): void => {
    hub.emit('error', e)
  }

  const finishSnapshot = (
    worker: string,
    columns: readonly string[],
    snapshot: Array<[RowId, JsonSqlValue[]]>,
    changeId: number,
  ): void => {
    const first = !m.synced && view.rows.size === 0 && view.columns.length === 0
    const colsChanged = !(
      columns.length === view.columns.length && columns.every((c, i) => c === view.columns[i])
    )
    finishSync(worker, view.reconcile(columns, snapshot), colsChanged, first, changeId)
  }

  /** The view was made equal to a worker's rows as of `changeId` (by `deltas`): it is live there. */
  const finishSync = (
    worker: string,
    deltas: ViewDelta[],
    colsChanged: boolean,
    first: boolean,
    changeId: number,
  ): void => {
    const columns = view.columns
    if (colsChanged) {
      standby?.drop('the view columns changed')
      hub.push({ type: 'columns', columns: [...columns] })
    }
    for (const d of deltas) emitChange(d, first ? 'snapshot' : 'reconcile', worker)
    const [next, reason] = snapshotDone(m, changeId)
    step(next)
    hub.push({ type: 'synced', worker, changeId, rows: view.rows.size, reason })
    hub.emit('status', status())
    resolveReady()
    // the standby must not be on the worker the view now follows: move it at once
    standby?.update(worker)
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

  /** Opens the stream the machine planned and reads it until it fails (it always does). */
  const attempt = async (a: Exclude<Attempt, { kind: 'wait' }>, ac: AbortController): Promise<never> => {
    const common = { worker: a.worker, signal: ac.signal, timeoutMs: connectTimeoutMs, idleTimeoutMs }
    const t0 = now()
    let stream: SubscriptionStream
    if (a.kind === 'resume') {
      stream = await client.subscription(a.id, { ...common, from: a.from })
      step(connected(m, a.worker, null))
    } else if (a.kind === 'adopt') {
      // stop the standby first: its rows are then exactly those of change id `a.from`
      const taken = standby?.take() ?? null
      if (taken === null || taken.position.id !== a.id || taken.position.changeId !== a.from)
        throw new PatinaClientError('PATINA_ERR_HTTP', `the standby on ${a.worker} is gone`, {
          httpStatus: 410,
        })
      stream = await client.subscription(a.id, { ...common, from: a.from })
      const t1 = now()
      const { links, linked, own } = taken.rows.handOver()
      const deltas = view.adoptRows(links, linked, own)
      if (deltas === null) {
        stream.close()
        throw new PatinaClientError(
          'PATINA_ERR_INTERNAL',
          `the standby rows from ${a.worker} do not match the view`,
          { httpStatus: 410 },
        )
      }
      step(connected(m, a.worker, null))
      finishSync(a.worker, deltas, false, false, a.from)
      log.debug(
        {
          worker: a.worker,
          differing: own.length,
          changes: deltas.length,
          changeId: a.from,
          ms: now() - t1,
          connectMs: t1 - t0,
        },
        'live subscription adopted the standby',
      )
    } else {
      const rw = {
        ...(opts.waitFor !== undefined ? { waitFor: opts.waitFor } : {}),
        ...(opts.waitTimeoutMs !== undefined ? { waitTimeoutMs: opts.waitTimeoutMs } : {}),
      }
      stream = await client.subscribe(statement, { ...common, ...rw })
      view.resetMapping()
      step(connected(m, a.worker, stream.id))
    }
    log.debug({ worker: a.worker, kind: a.kind, ms: now() - t0 }, 'live subscription connected')
    heard()
    const target = a.worker
    let snapCols: string[] | null = null
    let snapshot: Array<[RowId, JsonSqlValue[]]> | null = null
    try {
      for await (const batch of stream.batches()) {
        heard()
        for (const ev of batch) {
          if ('columns' in ev) {
            snapCols = ev.columns
            snapshot = []
          } else if ('row' in ev) {
            ;(snapshot ??= []).push([ev.row[0], ev.row[1]])
          } else if ('eoq' in ev) {
            if (snapshot !== null || m.session?.lastChangeId === null) {
              const t1 = now()
              log.debug(
                { worker: target, rows: snapshot?.length ?? 0, ms: t1 - t0 },
                'live subscription snapshot received',
              )
              finishSnapshot(target, snapCols ?? view.columns, snapshot ?? [], ev.eoq.change_id ?? 0)
              log.debug({ worker: target, ms: now() - t1 }, 'live subscription snapshot reconciled')
              snapshot = null
              snapCols = null
            }
          } else if ('change' in ev) {
            if (m.session?.lastChangeId === null)
              throw new PatinaClientError(
                'PATINA_ERR_NDJSON',
                `subscription on ${target} sent a change before its snapshot ended`,
              )
            const [type, rowid, cells, cid] = ev.change
            m = changeSeen(m, cid)
            const d = view.applyChange(type, rowid, cells)
            if (d) emitChange(d, 'change', target)
          } else if ('error' in ev) {
            throw new PatinaClientError(
              'PATINA_ERR_HTTP',
              `subscription on ${target} reported: ${ev.error}`,
              {
                serverMessage: ev.error,
                httpStatus: 200,
              },
            )
          }
          if (ac.signal.aborted) break
        }
      }
    } finally {
      stream.close()
    }
    throw new PatinaClientError('PATINA_ERR_HTTP', `subscription stream from ${target} ended`)
  }

  const fail = (err: unknown): void => {
    const e =
      err instanceof PatinaClientError
        ? err
        : new PatinaClientError('PATINA_ERR_INTERNAL', `live subscription failed: ${String(err)}`, {
            cause: err,
          })
    m = noteError(m, e.message)
    reportError(e)
    closed = true
    step(closeMachine(m, 'failed'))
    rejectReady(e)
    hub.fail(e)
  }

  /** Describes what ended an attempt, for the machine. */
  const describe = (err: unknown, target: string, resumed: boolean, reason: unknown): AttemptFailure => {
    const interrupt = reason === STALL ? 'stall' : reason === LEAVE ? 'leave' : null
    let error: AttemptFailure['error'] = null
    if (isPatinaClientError(err)) error = { code: err.code, httpStatus: err.httpStatus, message: err.message }
    else if (interrupt !== null)
      error = {
        code: 'PATINA_ERR_HTTP',
        httpStatus: undefined,
        message:
          interrupt === 'stall'
            ? `worker ${target} stopped answering health probes`
            : `worker ${target} is cut off from its cluster`,
      }
    const cause = isPatinaClientError(err) ? (err.cause as { code?: unknown } | undefined) : undefined
    const refused =
      isPatinaClientError(err, 'PATINA_ERR_HTTP') &&
      err.httpStatus === undefined &&
      typeof cause?.code === 'string' &&
      CONNECT_REFUSED.has(cause.code)
    return { worker: target, resumed, interrupt, error, refused }
  }

  const run = async (): Promise<void> => {
    const release = pool.acquire()
    const offProbe = pool.onProbe(probed)
    try {
      if (pool.list().length > 1 || pool.options.discover) await pool.probeNow()
      while (!closed) {
        const [planned, a] = planAttempt(m, pool, standby?.position() ?? null)
        step(planned)
        if (a.kind === 'wait') {
          const e = new PatinaClientError('PATINA_ERR_NO_WORKER', 'no worker configured or discovered')
          m = noteError(m, e.message)
          reportError(e)
          await sleep(backoffDelayMs(a.delayAttempt, backoff, random()))
          await pool.probeNow()
          continue
        }
        const ac = new AbortController()
        current = ac
        try {
          await attempt(a, ac)
        } catch (err) {
          current = null
          if (closed) break
          const reason: unknown = ac.signal.aborted ? ac.signal.reason : undefined
          if (reason === SWITCH) {
            // confirm with fresh answers, now that the view no longer reads from the old worker
            const from = m.session?.worker ?? a.worker
            await pool.probe([from, ...(m.moveTo === null ? [] : [m.moveTo])])
            step(confirmMove(m, pool.get(from), m.moveTo === null ? undefined : pool.get(m.moveTo)))
            continue
          }
          const f = describe(err, a.worker, a.kind === 'resume' || a.kind === 'adopt', reason)
          const [next, outcome] = attemptFailed(m, f, pool, resumeAttempts)
          if (outcome.kind === 'fatal') {
            fail(err)
            break
          }
          step(next)
          const e = isPatinaClientError(err)
            ? err
            : new PatinaClientError('PATINA_ERR_HTTP', f.error?.message ?? `worker ${a.worker} failed`, {
                cause: err,
              })
          reportError(e)
          log.debug({ err: e.message, worker: a.worker }, 'live subscription interrupted')
          if (outcome.markDown !== null) pool.markDown(outcome.markDown)
          const delay = retryDelay(m, pool, a.worker, outcome.lostSubscription)
          if (delay !== null) await sleep(backoffDelayMs(delay, backoff, random()))
        }
      }
    } finally {
      offProbe()
      release()
    }
  }

  const probed = (): void => {
    if (closed) return
    const [next, action] = onProbe(m, pool, pool.options.switchPolicy, current !== null)
    step(next)
    switch (action.kind) {
      case 'wake':
        wakeSleep?.()
        break
      case 'heard':
        heard()
        break
      case 'stall':
        current?.abort(STALL)
        break
      case 'move':
        heard()
        log.info(
          { from: m.session?.worker, to: action.to, reason: action.reason },
          action.reason === 'switch'
            ? 'moving subscription to a preferred worker'
            : 'leaving a worker cut off from its cluster',
        )
        current?.abort(action.reason === 'switch' ? SWITCH : LEAVE)
        break
      case 'none':
        break
    }
    standby?.update(m.state === 'live' ? (m.session?.worker ?? null) : null)
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
      return lagMs()
    },
    on(k, l) {
      hub.on(k, l)
      return () => hub.off(k, l)
    },
    off(k, l) {
      hub.off(k, l)
    },
    async close() {
      if (!closed) {
        closed = true
        step(closeMachine(m, 'closed'))
      }
      current?.abort(new PatinaClientError('PATINA_ERR_CLOSED', 'live subscription closed'))
      standby?.close()
      wakeSleep?.()
      rejectReady(
        new PatinaClientError('PATINA_ERR_CLOSED', 'live subscription closed before its first snapshot'),
      )
      hub.end()
      await runPromise
      deps.onClose?.(live)
    },
    [Symbol.asyncIterator]: () => hub.iterator(() => closed),
  }

  if (opts.signal) {
    if (opts.signal.aborted) queueMicrotask(() => void live.close())
    else opts.signal.addEventListener('abort', () => void live.close(), { once: true })
  }
  runPromise = run().catch((err: unknown) => fail(err))
  return live
}
