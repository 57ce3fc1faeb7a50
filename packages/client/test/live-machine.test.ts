import { describe, expect, it } from 'vitest'
import { UNKNOWN_FRESHNESS, type ActorHead } from '../src/freshness.js'
import {
  attemptFailed,
  changeSeen,
  confirmMove,
  connected,
  initialMachine,
  isFatalFailure,
  onProbe,
  planAttempt,
  retryDelay,
  snapshotDone,
  type AttemptFailure,
  type LiveMachine,
  type PoolView,
} from '../src/live-machine.js'
import { rankWorkers, SWITCH_DEFAULTS, type WorkerStatus } from '../src/workers.js'

const A = 'http://a:1'
const B = 'http://b:1'
const C = 'http://c:1'

/** A worker; `heads` as `{ actor: [max, complete] }`. */
function w(
  url: string,
  state: WorkerStatus['state'],
  rttMs: number | null = 10,
  heads: Record<string, [number, number]> | null = null,
): WorkerStatus {
  const h: Record<string, ActorHead> | null =
    heads === null
      ? null
      : Object.fromEntries(Object.entries(heads).map(([k, [max, complete]]) => [k, { max, complete }]))
  return {
    url,
    source: 'static',
    order: url === A ? 0 : url === B ? 1 : 2,
    state,
    rttMs,
    p99LagMs: null,
    freshness: { ...UNKNOWN_FRESHNESS, heads: h },
    reportedAt: null,
    failures: 0,
    lastProbeAt: null,
    lastFailureAt: null,
  }
}

function pool(...ws: WorkerStatus[]): PoolView {
  return {
    get: (u) => ws.find((x) => x.url === u),
    best: () => rankWorkers(ws)[0],
  }
}

/** A machine live on `worker` (snapshot done, change id 5). */
function liveOn(worker: string, over: Partial<LiveMachine> = {}): LiveMachine {
  let m = initialMachine()
  ;[m] = planAttempt(m, pool(w(worker, 'healthy')))
  m = connected(m, worker, 'sub-1')
  ;[m] = snapshotDone(m, 5)
  return { ...m, ...over }
}

describe('planAttempt', () => {
  const cases: Array<{
    name: string
    m: LiveMachine
    pool: PoolView
    want: ReturnType<typeof planAttempt>[1]
  }> = [
    {
      name: 'first attempt: the best worker, an initial snapshot',
      m: initialMachine(),
      pool: pool(w(A, 'healthy', 20), w(B, 'healthy', 5)),
      want: { kind: 'subscribe', worker: B, reason: 'initial' },
    },
    {
      name: 'no worker at all: wait with the backoff of the failures so far',
      m: { ...initialMachine(), totalFailures: 2 },
      pool: pool(),
      want: { kind: 'wait', delayAttempt: 2 },
    },
    {
      name: 'same worker after a drop: resume from the last change id',
      m: liveOn(A),
      pool: pool(w(A, 'healthy', 20), w(B, 'healthy', 5)),
      want: { kind: 'resume', worker: A, id: 'sub-1', from: 5 },
    },
    {
      name: 'same worker after a gap: a fresh snapshot there (resubscribe)',
      m: liveOn(A, { resubscribe: true }),
      pool: pool(w(A, 'healthy')),
      want: { kind: 'subscribe', worker: A, reason: 'resubscribe' },
    },
    {
      name: 'current worker down: the next one, a failover',
      m: liveOn(A),
      pool: pool(w(A, 'down'), w(B, 'unhealthy')),
      want: { kind: 'subscribe', worker: B, reason: 'failover' },
    },
    {
      name: 'a decided switch: to that worker, reason switch',
      m: liveOn(A, { moveTo: B, moveReason: 'switch' }),
      pool: pool(w(A, 'healthy'), w(B, 'healthy')),
      want: { kind: 'subscribe', worker: B, reason: 'switch' },
    },
    {
      name: 'leaving a cut-off worker: reason failover',
      m: liveOn(A, { moveTo: B, moveReason: 'failover' }),
      pool: pool(w(A, 'isolated'), w(B, 'healthy')),
      want: { kind: 'subscribe', worker: B, reason: 'failover' },
    },
    {
      name: 'a decided move to a worker that went down meanwhile: stay (resume)',
      m: liveOn(A, { moveTo: B, moveReason: 'switch' }),
      pool: pool(w(A, 'healthy'), w(B, 'down')),
      want: { kind: 'resume', worker: A, id: 'sub-1', from: 5 },
    },
    {
      name: 'a reason decided by an earlier failed attempt is kept',
      m: liveOn(A, { pendingReason: 'switch', session: null }),
      pool: pool(w(B, 'healthy')),
      want: { kind: 'subscribe', worker: B, reason: 'switch' },
    },
  ]
  for (const c of cases)
    it(c.name, () => {
      expect(planAttempt(c.m, c.pool)[1]).toEqual(c.want)
    })

  it('counts resumes, resubscribes and switches; clears the decided move', () => {
    const [m1] = planAttempt(liveOn(A), pool(w(A, 'healthy')))
    expect(m1.counters.resumes).toBe(1)
    const [m2] = planAttempt(liveOn(A, { resubscribe: true }), pool(w(A, 'healthy')))
    expect(m2.counters.resubscribes).toBe(1)
    const [m3] = planAttempt(
      liveOn(A, { moveTo: B, moveReason: 'switch' }),
      pool(w(A, 'healthy'), w(B, 'healthy')),
    )
    expect([m3.counters.switches, m3.moveTo, m3.pendingReason]).toEqual([1, null, 'switch'])
  })
})

describe('planAttempt with a standby', () => {
  const sb = { worker: B, id: 'sb-1', changeId: 7 }
  const cases: Array<[string, LiveMachine, PoolView, ReturnType<typeof planAttempt>[1]['kind']]> = [
    [
      'the view worker is down: adopt the standby on the next',
      liveOn(A),
      pool(w(A, 'down'), w(B, 'healthy')),
      'adopt',
    ],
    [
      'the view worker still answers: resume there',
      liveOn(A),
      pool(w(A, 'healthy'), w(B, 'healthy')),
      'resume',
    ],
    [
      'the next worker is not the standby worker: a snapshot',
      liveOn(A),
      pool(w(A, 'down'), w(B, 'down'), w(C, 'healthy')),
      'subscribe',
    ],
    [
      'a voluntary switch to the standby worker: a snapshot (must not move the view backwards)',
      liveOn(A, { moveTo: B, moveReason: 'switch' }),
      pool(w(A, 'healthy'), w(B, 'healthy')),
      'subscribe',
    ],
    [
      'leaving a cut-off worker for the standby worker: adopt',
      liveOn(A, { moveTo: B, moveReason: 'failover' }),
      pool(w(A, 'isolated'), w(B, 'healthy')),
      'adopt',
    ],
    ['never before the first snapshot', initialMachine(), pool(w(A, 'down'), w(B, 'healthy')), 'subscribe'],
    [
      'the standby worker is usable but not the best: adopt it all the same',
      liveOn(A),
      pool(w(A, 'down'), w(B, 'unhealthy', 50), w(C, 'healthy', 5)),
      'adopt',
    ],
    [
      'the standby worker is cut off: a snapshot from the best',
      liveOn(A),
      pool(w(A, 'down'), w(B, 'isolated'), w(C, 'healthy')),
      'subscribe',
    ],
    [
      'the view already follows the standby worker: resume its own session',
      liveOn(B),
      pool(w(A, 'down'), w(B, 'healthy')),
      'resume',
    ],
  ]
  for (const [name, m, p, kind] of cases) it(name, () => expect(planAttempt(m, p, sb)[1].kind).toBe(kind))

  it('adopting sets the session to the standby subscription at its change id, as a failover', () => {
    const [m, a] = planAttempt(liveOn(A), pool(w(A, 'down'), w(B, 'healthy')), sb)
    expect(a).toEqual({ kind: 'adopt', worker: B, id: 'sb-1', from: 7 })
    expect([m.session, m.pendingReason, m.counters.standbyFailovers]).toEqual([
      { worker: B, id: 'sb-1', lastChangeId: 7 },
      'failover',
      1,
    ])
    const c = connected(m, B, null)
    expect(c.state).toBe('live')
    const [n, reason] = snapshotDone(c, 7)
    expect([reason, n.counters.failovers]).toEqual(['failover', 1])
  })

  it('an adopt refused by the worker (subscription gone) is followed by a snapshot on it', () => {
    const [m] = planAttempt(liveOn(A), pool(w(A, 'down'), w(B, 'healthy')), sb)
    const f: AttemptFailure = {
      worker: B,
      resumed: true,
      interrupt: null,
      error: { code: 'PATINA_ERR_HTTP', httpStatus: 404, message: 'gone' },
      refused: false,
    }
    const [n] = attemptFailed(m, f, pool(w(A, 'down'), w(B, 'healthy')), 3)
    expect(planAttempt(n, pool(w(A, 'down'), w(B, 'healthy')))[1]).toEqual({
      kind: 'subscribe',
      worker: B,
      reason: 'failover',
    })
  })
})

describe('connected, snapshotDone, changeSeen', () => {
  it('a new subscription is syncing until its eoq; the eoq makes it live and counts a failover', () => {
    let m = liveOn(A)
    ;[m] = planAttempt(m, pool(w(A, 'down'), w(B, 'healthy')))
    m = connected(m, B, 'sub-2')
    expect([m.state, m.session]).toEqual(['syncing', { worker: B, id: 'sub-2', lastChangeId: null }])
    const [n, reason] = snapshotDone(m, 9)
    expect([n.state, reason, n.counters.failovers, n.session?.lastChangeId]).toEqual([
      'live',
      'failover',
      1,
      9,
    ])
  })

  it('a resume keeps the session and is live at once; changes move the change id and clear failures', () => {
    let m = liveOn(A, { workerFailures: 2, totalFailures: 2 })
    m = connected(m, A, null)
    expect([m.state, m.session?.id]).toEqual(['live', 'sub-1'])
    m = changeSeen(m, 6)
    expect([m.session?.lastChangeId, m.workerFailures, m.totalFailures]).toEqual([6, 0, 0])
  })
})

const failure = (over: Partial<AttemptFailure> = {}): AttemptFailure => ({
  worker: A,
  resumed: false,
  interrupt: null,
  error: { code: 'PATINA_ERR_HTTP', httpStatus: undefined, message: 'socket closed' },
  refused: false,
  ...over,
})
const http = (httpStatus: number): AttemptFailure['error'] => ({
  code: 'PATINA_ERR_HTTP',
  httpStatus,
  message: `HTTP ${httpStatus}`,
})

describe('isFatalFailure', () => {
  const cases: Array<[string, AttemptFailure, boolean]> = [
    ['a dropped connection', failure(), false],
    ['400 on the statement', failure({ error: http(400) }), true],
    ['401 on the statement', failure({ error: http(401) }), true],
    ['404 on a resume (lost subscription)', failure({ resumed: true, error: http(404) }), false],
    ['400 on a resume', failure({ resumed: true, error: http(400) }), false],
    ['429 on the statement', failure({ error: http(429) }), false],
    ['503 on the statement', failure({ error: http(503) }), false],
    ['an error event in the stream (200)', failure({ error: http(200) }), false],
    [
      'a bad option',
      failure({ error: { code: 'PATINA_ERR_PARAM_INVALID', httpStatus: undefined, message: 'x' } }),
      true,
    ],
    ['a non-client error (a bug)', failure({ error: null }), true],
    ['a stall interrupt', failure({ error: null, interrupt: 'stall' }), false],
  ]
  for (const [name, f, want] of cases) it(name, () => expect(isFatalFailure(f)).toBe(want))
})

describe('attemptFailed and retryDelay', () => {
  const cases: Array<{
    name: string
    m: LiveMachine
    f: AttemptFailure
    pool: PoolView
    markDown: string | null
    resubscribe: boolean
    delay: number | null
  }> = [
    {
      name: 'first drop on the only worker: stay, back off',
      m: liveOn(A),
      f: failure(),
      pool: pool(w(A, 'healthy')),
      markDown: null,
      resubscribe: false,
      delay: 0,
    },
    {
      name: 'third failure in a row (resumeAttempts 3): mark it down; the next worker is tried at once',
      m: liveOn(A, { workerFailures: 2, totalFailures: 2, failingWorker: A }),
      f: failure(),
      pool: pool(w(A, 'down'), w(B, 'healthy')),
      markDown: A,
      resubscribe: false,
      delay: null,
    },
    {
      name: 'connection refused (the process is gone): mark it down at once',
      m: liveOn(A),
      f: failure({ refused: true, resumed: true }),
      pool: pool(w(A, 'down'), w(B, 'healthy')),
      markDown: A,
      resubscribe: false,
      delay: null,
    },
    {
      name: 'a gap: resubscribe on the same worker after the backoff',
      m: liveOn(A),
      f: failure({ error: { code: 'PATINA_ERR_MISSED_CHANGE', httpStatus: undefined, message: 'gap' } }),
      pool: pool(w(A, 'healthy')),
      markDown: null,
      resubscribe: true,
      delay: 0,
    },
    {
      name: 'the worker lost the subscription (404 on resume): resubscribe at once, no failure counted',
      m: liveOn(A),
      f: failure({ resumed: true, error: http(404) }),
      pool: pool(w(A, 'healthy')),
      markDown: null,
      resubscribe: true,
      delay: null,
    },
    {
      name: 'stalled (probes fail while the stream is open): mark it down',
      m: liveOn(A),
      f: failure({ interrupt: 'stall', error: null }),
      pool: pool(w(A, 'down'), w(B, 'healthy')),
      markDown: A,
      resubscribe: false,
      delay: null,
    },
    {
      name: 'left because cut off: not marked down (it answers), the move goes ahead at once',
      m: liveOn(A, { moveTo: B, moveReason: 'failover' }),
      f: failure({ interrupt: 'leave', error: null }),
      pool: pool(w(A, 'isolated'), w(B, 'healthy')),
      markDown: null,
      resubscribe: false,
      delay: null,
    },
  ]
  for (const c of cases)
    it(c.name, () => {
      const [m, out] = attemptFailed(c.m, c.f, c.pool, 3)
      expect(out).toEqual({ kind: 'retry', markDown: c.markDown, lostSubscription: c.name.includes('404') })
      expect(m.resubscribe).toBe(c.resubscribe)
      expect(m.state).toBe('reconnecting')
      if (out.kind === 'retry') expect(retryDelay(m, c.pool, c.f.worker, out.lostSubscription)).toBe(c.delay)
    })

  it('a fatal failure fails the machine', () => {
    const [m, out] = attemptFailed(liveOn(A), failure({ error: http(400) }), pool(w(A, 'healthy')), 3)
    expect([m.state, out.kind]).toEqual(['failed', 'fatal'])
  })
})

describe('onProbe', () => {
  const heads = { x: [10, 10] as [number, number] }
  const behind = { x: [10, 9] as [number, number] }
  const cases: Array<{ name: string; m: LiveMachine; pool: PoolView; attached?: boolean; want: unknown }> = [
    {
      name: 'live on the best worker: it was heard from',
      m: liveOn(A),
      pool: pool(w(A, 'healthy', 5), w(B, 'healthy', 50)),
      want: { kind: 'heard' },
    },
    {
      name: 'the attached worker stopped answering probes: stall',
      m: liveOn(A),
      pool: pool(w(A, 'down'), w(B, 'healthy')),
      want: { kind: 'stall' },
    },
    {
      name: 'a much nearer worker that has every version: switch',
      m: liveOn(A),
      pool: pool(w(A, 'healthy', 50, heads), w(B, 'healthy', 5, heads)),
      want: { kind: 'move', to: B, reason: 'switch' },
    },
    {
      name: 'a much nearer worker that lacks a version the current one has: stay',
      m: liveOn(A),
      pool: pool(w(A, 'healthy', 50, heads), w(B, 'healthy', 5, behind)),
      want: { kind: 'heard' },
    },
    {
      name: 'a nearer worker that does not report heads (Corrosion): switch as before',
      m: liveOn(A),
      pool: pool(w(A, 'healthy', 50), w(B, 'healthy', 5)),
      want: { kind: 'move', to: B, reason: 'switch' },
    },
    {
      name: 'a nearer worker within the hysteresis: stay',
      m: liveOn(A),
      pool: pool(w(A, 'healthy', 10, heads), w(B, 'healthy', 8, heads)),
      want: { kind: 'heard' },
    },
    {
      name: 'the current worker is cut off and another is not: leave it (a failover, even if behind)',
      m: liveOn(A),
      pool: pool(w(A, 'isolated', 5, heads), w(B, 'healthy', 50, behind)),
      want: { kind: 'move', to: B, reason: 'failover' },
    },
    {
      name: 'every worker is cut off: stay where it is',
      m: liveOn(A),
      pool: pool(w(A, 'isolated', 5), w(B, 'isolated', 50)),
      want: { kind: 'heard' },
    },
    {
      name: 'reconnecting and a worker answers: wake the backoff sleep',
      m: liveOn(A, { state: 'reconnecting' }),
      pool: pool(w(A, 'down'), w(B, 'healthy')),
      want: { kind: 'wake' },
    },
    {
      name: 'reconnecting and nothing answers: nothing',
      m: liveOn(A, { state: 'reconnecting' }),
      pool: pool(w(A, 'down')),
      want: { kind: 'none' },
    },
    {
      name: 'no stream open: nothing',
      m: liveOn(A),
      pool: pool(w(A, 'down')),
      attached: false,
      want: { kind: 'none' },
    },
    {
      name: 'syncing (snapshot in progress) on a worker that answers: no move yet',
      m: liveOn(A, { state: 'syncing' }),
      pool: pool(w(A, 'healthy', 50), w(B, 'healthy', 5)),
      want: { kind: 'none' },
    },
  ]
  for (const c of cases)
    it(c.name, () => {
      const [m, action] = onProbe(c.m, c.pool, SWITCH_DEFAULTS, c.attached ?? true)
      expect(action).toEqual(c.want)
      if ((action as { kind: string }).kind === 'move') expect(m.moveTo).toBe((action as { to: string }).to)
    })
})

describe('confirmMove (after the old stream was dropped, with fresh probes)', () => {
  const switching = liveOn(A, { moveTo: B, moveReason: 'switch' })
  const cases: Array<
    [string, WorkerStatus | undefined, WorkerStatus | undefined, string | null, string | null, number]
  > = [
    [
      'the candidate covers the current worker: go',
      w(A, 'healthy', 50, { x: [7, 7] }),
      w(B, 'healthy', 5, { x: [9, 7] }),
      B,
      'switch',
      0,
    ],
    [
      'the candidate is behind (complete 6 < max 7): stay, deferred',
      w(A, 'healthy', 50, { x: [7, 7] }),
      w(B, 'healthy', 5, { x: [7, 6] }),
      null,
      null,
      1,
    ],
    [
      'the candidate lacks an actor: stay',
      w(A, 'healthy', 50, { x: [7, 7], y: [1, 1] }),
      w(B, 'healthy', 5, { x: [7, 7] }),
      null,
      null,
      1,
    ],
    ['the candidate went down: stay', w(A, 'healthy'), w(B, 'down'), null, null, 1],
    [
      'the current worker went down: go, as a failover',
      w(A, 'down'),
      w(B, 'healthy', 5, { x: [1, 1] }),
      B,
      'failover',
      0,
    ],
    ['neither reports heads: go', w(A, 'healthy'), w(B, 'healthy'), B, 'switch', 0],
  ]
  for (const [name, cur, cand, moveTo, reason, deferred] of cases)
    it(name, () => {
      const m = confirmMove(switching, cur, cand)
      expect([m.moveTo, m.moveReason, m.counters.switchesDeferred]).toEqual([moveTo, reason, deferred])
    })

  it('leaves a failover move alone', () => {
    const m = liveOn(A, { moveTo: B, moveReason: 'failover' })
    expect(confirmMove(m, w(A, 'healthy', 5, { x: [9, 9] }), w(B, 'healthy', 5, { x: [1, 1] }))).toBe(m)
  })
})

it('a worker C the machine never heard of is not chosen over a known one', () => {
  expect(planAttempt(liveOn(A), pool(w(A, 'healthy'), w(C, 'unknown')))[1]).toMatchObject({ worker: A })
})
