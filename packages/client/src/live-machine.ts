/**
 * The decisions of a live subscription, as pure functions over a plain state value (reducer
 * style): which worker to (re)connect to and how, what a failure means, when to move to another
 * worker. `live.ts` holds the state, performs the I/O these functions ask for and feeds the
 * results back. No I/O, no timers, no clocks here: table-tested in `live-machine.test.ts`.
 */
import type { ErrorCode } from '@patina/api'
import { coversHeads } from './freshness.js'
import type { LiveState, LiveStatus, SyncReason } from './types.js'
import { shouldSwitchWorker, type SwitchPolicy, type WorkerStatus } from './workers.js'

/** The subscription on a worker that feeds the view. */
export interface Session {
  worker: string
  /** Subscription id (`corro-query-id`). */
  id: string
  /** null until the snapshot's `eoq`. */
  lastChangeId: number | null
}

export interface LiveMachine {
  readonly state: LiveState
  readonly session: Session | null
  /** The worker of the last connection (kept after the session is dropped). */
  readonly lastWorker: string | null
  /** A snapshot from a worker has been applied. */
  readonly synced: boolean
  /** The next connection must take a fresh snapshot (gap, lost subscription, server error event). */
  readonly resubscribe: boolean
  /** Why the snapshot being taken is taken (null: decided at the next attempt). */
  readonly pendingReason: SyncReason | null
  /** A move to this worker was decided: the next attempt goes there if it is not down. */
  readonly moveTo: string | null
  /** `switch`: voluntary (to a better worker; must not move the view backwards); `failover`: leaving a cut-off worker. */
  readonly moveReason: 'switch' | 'failover' | null
  /** The worker `workerFailures` counts for. */
  readonly failingWorker: string | null
  /** Consecutive failed attempts on `failingWorker`. */
  readonly workerFailures: number
  /** Consecutive failed attempts on any worker (drives the backoff). */
  readonly totalFailures: number
  readonly counters: LiveStatus['counters']
  readonly lastError: string | null
}

/** What the machine reads of the worker pool. */
export interface PoolView {
  get(url: string): WorkerStatus | undefined
  /** The most preferred worker, a down one only when all are down. */
  best(): WorkerStatus | undefined
}

export function initialMachine(): LiveMachine {
  return {
    state: 'connecting',
    session: null,
    lastWorker: null,
    synced: false,
    resubscribe: false,
    pendingReason: null,
    moveTo: null,
    moveReason: null,
    failingWorker: null,
    workerFailures: 0,
    totalFailures: 0,
    counters: {
      changes: 0,
      resumes: 0,
      resubscribes: 0,
      failovers: 0,
      switches: 0,
      switchesDeferred: 0,
      missedChanges: 0,
      errors: 0,
      standbyFailovers: 0,
    },
    lastError: null,
  }
}

const count = (m: LiveMachine, k: keyof LiveStatus['counters'], n = 1): LiveStatus['counters'] => ({
  ...m.counters,
  [k]: m.counters[k] + n,
})

const usable = (w: WorkerStatus | undefined): w is WorkerStatus => w !== undefined && w.state !== 'down'

/**
 * The worker the next attempt goes to: a decided move, else the current worker, else the ready
 * standby's worker when it is usable and not cut off (a failover there needs no snapshot; a
 * better worker is reached later by a voluntary switch), else the pool's best.
 */
export function nextTarget(
  m: LiveMachine,
  pool: PoolView,
  standby: StandbyPosition | null = null,
): string | null {
  if (m.moveTo !== null && usable(pool.get(m.moveTo))) return m.moveTo
  if (m.session !== null && usable(pool.get(m.session.worker))) return m.session.worker
  if (standby !== null && m.synced) {
    const sw = pool.get(standby.worker)
    if (usable(sw) && sw.state !== 'isolated') return standby.worker
  }
  return pool.best()?.url ?? null
}

/** The next connection attempt. */
export type Attempt =
  /** No worker at all: wait `backoffDelayMs(delayAttempt)`, probe, plan again. */
  | { kind: 'wait'; delayAttempt: number }
  /** Re-attach to the session's subscription with `from` (nothing lost, nothing repeated). */
  | { kind: 'resume'; worker: string; id: string; from: number }
  /** A new subscription: its snapshot is reconciled with the view. */
  | { kind: 'subscribe'; worker: string; reason: SyncReason }
  /**
   * Fail over to the standby: re-attach to its subscription with `from` its last change id, and
   * reconcile the view with the standby's rows as of that change id (no snapshot).
   */
  | { kind: 'adopt'; worker: string; id: string; from: number }

/** A standby subscription whose rows are known up to `changeId` (see `live-standby.ts`). */
export interface StandbyPosition {
  worker: string
  /** Its subscription id on `worker`. */
  id: string
  changeId: number
}

/**
 * Plans the next connection attempt. `standby`: a standby ready to be adopted, if any; it is
 * adopted when the attempt would otherwise subscribe afresh on its worker after a failure (never
 * for a voluntary switch, which must not move the view backwards, nor before the first snapshot).
 */
export function planAttempt(
  m: LiveMachine,
  pool: PoolView,
  standby: StandbyPosition | null = null,
): [LiveMachine, Attempt] {
  const target = nextTarget(m, pool, standby)
  const moving = m.moveTo !== null && target === m.moveTo
  let n: LiveMachine = { ...m, moveTo: null }
  if (moving && m.moveReason === 'switch') n = { ...n, counters: count(n, 'switches') }
  if (target === null)
    return [
      { ...n, state: 'reconnecting', totalFailures: n.totalFailures + 1 },
      { kind: 'wait', delayAttempt: n.totalFailures },
    ]
  if (n.failingWorker !== target) n = { ...n, failingWorker: target, workerFailures: 0 }
  const s = n.session
  if (s !== null && s.worker === target && !n.resubscribe && s.lastChangeId !== null)
    return [
      { ...n, pendingReason: null, counters: count(n, 'resumes') },
      { kind: 'resume', worker: target, id: s.id, from: s.lastChangeId },
    ]
  if (
    standby !== null &&
    standby.worker === target &&
    n.synced &&
    (s === null || s.worker !== target) &&
    !(moving && m.moveReason === 'switch')
  )
    return [
      {
        ...n,
        session: { worker: target, id: standby.id, lastChangeId: standby.changeId },
        resubscribe: false,
        pendingReason: 'failover',
        counters: count(n, 'standbyFailovers'),
      },
      { kind: 'adopt', worker: target, id: standby.id, from: standby.changeId },
    ]
  const reason: SyncReason =
    n.pendingReason ??
    (!n.synced
      ? 'initial'
      : n.lastWorker === target
        ? 'resubscribe'
        : moving && m.moveReason !== null
          ? m.moveReason
          : 'failover')
  if (reason === 'resubscribe') n = { ...n, counters: count(n, 'resubscribes') }
  return [
    { ...n, pendingReason: reason },
    { kind: 'subscribe', worker: target, reason },
  ]
}

/** The attempt's stream answered. `subscriptionId` is the new subscription's id (null for a resume). */
export function connected(m: LiveMachine, worker: string, subscriptionId: string | null): LiveMachine {
  const session =
    subscriptionId === null && m.session !== null
      ? m.session
      : { worker, id: subscriptionId ?? '', lastChangeId: null }
  return {
    ...m,
    session,
    resubscribe: subscriptionId === null ? m.resubscribe : false,
    lastWorker: worker,
    moveReason: null,
    state: session.lastChangeId === null ? 'syncing' : 'live',
  }
}

/** The snapshot ended (`eoq`): the view is now reconciled with the worker. Returns why it was taken. */
export function snapshotDone(m: LiveMachine, changeId: number): [LiveMachine, SyncReason] {
  const reason = m.pendingReason ?? 'initial'
  return [
    {
      ...m,
      session: m.session === null ? null : { ...m.session, lastChangeId: changeId },
      pendingReason: null,
      synced: true,
      state: 'live',
      workerFailures: 0,
      totalFailures: 0,
      lastError: null,
      counters: reason === 'failover' ? count(m, 'failovers') : m.counters,
    },
    reason,
  ]
}

/** A live change arrived (the caller checked that the snapshot had ended). */
export function changeSeen(m: LiveMachine, changeId: number): LiveMachine {
  if (m.session === null) return m
  return { ...m, session: { ...m.session, lastChangeId: changeId }, workerFailures: 0, totalFailures: 0 }
}

/** Counts a change emitted to the consumer. */
export function changeEmitted(m: LiveMachine): LiveMachine {
  return { ...m, counters: count(m, 'changes') }
}

/** What ended an attempt. */
export interface AttemptFailure {
  worker: string
  /** The attempt was a resume (`from`) of the session. */
  resumed: boolean
  /** The subscription itself stopped the stream: the worker stopped answering probes, or it is cut off and a better one answers. */
  interrupt: 'stall' | 'leave' | null
  /** The error, when it was a client error (null: anything else, a bug). */
  error: { code: ErrorCode; httpStatus: number | undefined; message: string } | null
  /** The connection was refused (nobody listens: the worker process is gone). */
  refused: boolean
}

/**
 * Whether a failure ends the subscription for good: a bad option, or a 4xx refusal of the
 * statement itself (not of a resume, whose 4xx means the worker lost the subscription).
 */
export function isFatalFailure(f: AttemptFailure): boolean {
  if (f.error === null) return f.interrupt === null
  if (f.error.code === 'PATINA_ERR_PARAM_INVALID' || f.error.code === 'PATINA_ERR_CONFIG_INVALID') return true
  const s = f.error.httpStatus
  if (f.resumed || s === undefined || s === 200) return false
  return s >= 400 && s < 500 && ![404, 408, 409, 425, 429].includes(s)
}

export type FailureOutcome =
  | { kind: 'fatal' }
  | {
      kind: 'retry'
      /** Mark this worker down in the pool before planning the next attempt. */
      markDown: string | null
      /** The worker lost the subscription: subscribe again at once. */
      lostSubscription: boolean
    }

/** An attempt failed (it was not closed by the consumer, nor interrupted for a voluntary switch). */
export function attemptFailed(
  m: LiveMachine,
  f: AttemptFailure,
  pool: PoolView,
  resumeAttempts: number,
): [LiveMachine, FailureOutcome] {
  if (isFatalFailure(f)) return [{ ...m, state: 'failed' }, { kind: 'fatal' }]
  const code = f.error?.code
  const status = f.error?.httpStatus
  let n: LiveMachine = {
    ...m,
    state: 'reconnecting',
    counters: {
      ...m.counters,
      errors: m.counters.errors + 1,
      missedChanges: m.counters.missedChanges + (code === 'PATINA_ERR_MISSED_CHANGE' ? 1 : 0),
    },
    lastError: f.error?.message ?? m.lastError,
  }
  // gaps, lost subscriptions and server-side error events need a fresh snapshot
  if (
    code === 'PATINA_ERR_MISSED_CHANGE' ||
    (f.resumed && status !== undefined && status >= 400 && status < 500) ||
    status === 200
  )
    n = { ...n, resubscribe: true }
  const lostSubscription = f.resumed && status === 404
  if (!lostSubscription)
    n = { ...n, workerFailures: n.workerFailures + 1, totalFailures: n.totalFailures + 1 }
  if (f.interrupt === 'leave') return [n, { kind: 'retry', markDown: null, lostSubscription }]
  const w = pool.get(f.worker)
  const down =
    f.interrupt === 'stall' ||
    f.refused ||
    n.workerFailures >= resumeAttempts ||
    (w?.state === 'down' && n.workerFailures > 0)
  if (down) n = { ...n, workerFailures: 0 }
  return [n, { kind: 'retry', markDown: down ? f.worker : null, lostSubscription }]
}

/**
 * After a failure (and the pool updated): the backoff attempt number to wait for, or null to
 * try again at once (the subscription was lost, or another usable worker is next).
 */
export function retryDelay(
  m: LiveMachine,
  pool: PoolView,
  failed: string,
  lostSubscription: boolean,
): number | null {
  const next = nextTarget(m, pool)
  if (lostSubscription || (next !== null && next !== failed && usable(pool.get(next)))) return null
  return Math.max(0, m.totalFailures - 1)
}

export type ProbeAction =
  | { kind: 'none' }
  /** A worker is usable again: cut the backoff sleep short. */
  | { kind: 'wake' }
  /** The attached worker answers: it was heard from. */
  | { kind: 'heard' }
  /** The attached worker stopped answering probes: its stream may be stalled rather than closed; drop it. */
  | { kind: 'stall' }
  /** Drop the stream and move to `to` (`switch`: confirm first with fresh probes, see {@link confirmMove}). */
  | { kind: 'move'; to: string; reason: 'switch' | 'failover' }

/**
 * After a round of health probes. `attached`: a stream is open. Leaving a cut-off worker is a
 * failover (the view may move backwards: the cut-off worker may hold writes the rest of the
 * cluster has not seen yet); a move to a better worker is voluntary and needs the candidate to
 * have every version the current worker had ({@link coversHeads}).
 */
export function onProbe(
  m: LiveMachine,
  pool: PoolView,
  policy: SwitchPolicy,
  attached: boolean,
): [LiveMachine, ProbeAction] {
  if (m.state === 'closed' || m.state === 'failed') return [m, { kind: 'none' }]
  if (m.state === 'reconnecting') return [m, usable(pool.best()) ? { kind: 'wake' } : { kind: 'none' }]
  if ((m.state !== 'live' && m.state !== 'syncing') || m.session === null || !attached)
    return [m, { kind: 'none' }]
  const cur = pool.get(m.session.worker)
  if (!usable(cur)) return [m, { kind: 'stall' }]
  if (m.state !== 'live') return [m, { kind: 'none' }]
  const best = pool.best()
  if (best !== undefined && best.url !== cur.url && usable(best)) {
    if (cur.state === 'isolated' && best.state !== 'isolated')
      return [
        { ...m, moveTo: best.url, moveReason: 'failover' },
        { kind: 'move', to: best.url, reason: 'failover' },
      ]
    if (
      shouldSwitchWorker(cur, best, policy) &&
      coversHeads(best.freshness.heads, cur.freshness.heads) !== false
    )
      return [
        { ...m, moveTo: best.url, moveReason: 'switch' },
        { kind: 'move', to: best.url, reason: 'switch' },
      ]
  }
  return [m, { kind: 'heard' }]
}

/**
 * A voluntary switch, confirmed after the stream from `cur` was dropped, with both workers probed
 * again since: `cur`'s `max` now bounds every version the view may reflect, and `cand`'s
 * `complete` is a floor of the snapshot it is about to send. When the candidate does not cover
 * the current worker (or is gone), the move is given up: the next attempt resumes on the current
 * worker with `from`, and nothing is lost or repeated. When the current worker is gone, the move
 * goes ahead as a failover.
 */
export function confirmMove(
  m: LiveMachine,
  cur: WorkerStatus | undefined,
  cand: WorkerStatus | undefined,
): LiveMachine {
  if (m.moveTo === null || m.moveReason !== 'switch') return m
  const deferred = (): LiveMachine => ({
    ...m,
    moveTo: null,
    moveReason: null,
    counters: count(m, 'switchesDeferred'),
  })
  if (!usable(cand)) return deferred()
  if (!usable(cur)) return { ...m, moveReason: 'failover' }
  if (coversHeads(cand.freshness.heads, cur.freshness.heads) === false) return deferred()
  return m
}

/** An error that did not end an attempt (no worker to try, for instance). */
export function noteError(m: LiveMachine, message: string): LiveMachine {
  return { ...m, lastError: message, counters: count(m, 'errors') }
}

export function closeMachine(m: LiveMachine, state: 'closed' | 'failed'): LiveMachine {
  return { ...m, state }
}
