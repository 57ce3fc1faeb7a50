import { afterEach, describe, expect, it } from 'vitest'
import type { JsonSqlValue, RowId } from '@patina/api'
import { createClient } from '../src/client.js'
import { UNKNOWN_FRESHNESS } from '../src/freshness.js'
import { standbyAction, type StandbyAction, type StandbyMark } from '../src/live-standby.js'
import type { LiveEvent, LiveSubscription, PatinaClient } from '../src/types.js'
import type { WorkerStatus } from '../src/workers.js'
import { FakeCluster, waitFor, type FakeWorker } from './fake-worker.js'

const w = (url: string, state: WorkerStatus['state']): WorkerStatus => ({
  url,
  source: 'static',
  order: 0,
  state,
  rttMs: 1,
  p99LagMs: null,
  freshness: UNKNOWN_FRESHNESS,
  reportedAt: null,
  failures: 0,
  lastProbeAt: null,
  lastFailureAt: null,
})

describe('standbyAction', () => {
  const ranked = [w('a', 'healthy'), w('b', 'healthy'), w('c', 'unhealthy')]
  const none: StandbyAction = { kind: 'none' }
  const drop: StandbyAction = { kind: 'drop' }
  const open = (url: string): StandbyAction => ({ kind: 'open', url })
  const cases: Array<
    [string, WorkerStatus[], string | null, string | null, StandbyMark | null, number, StandbyAction]
  > = [
    ['the next worker after the current one', ranked, 'a', null, null, 0, open('b')],
    ['the best one when the view follows another', ranked, 'b', null, null, 0, open('a')],
    ['nothing while one is open on a fit worker', ranked, 'a', 'b', null, 0, none],
    ['nothing while the view is not live (a failover needs it)', ranked, null, 'b', null, 0, none],
    ['none made while the view is not live', ranked, null, null, null, 0, none],
    ['dropped when the view follows its worker', ranked, 'b', 'b', null, 0, drop],
    ['dropped when its worker is down', [w('a', 'healthy'), w('b', 'down')], 'a', 'b', null, 0, drop],
    ['dropped when its worker is cut off', [w('a', 'healthy'), w('b', 'isolated')], 'a', 'b', null, 0, drop],
    ['not again on a worker where it just failed', ranked, 'a', null, { url: 'b', at: 0 }, 4_999, none],
    ['again once the retry time passed', ranked, 'a', null, { url: 'b', at: 0 }, 5_000, open('b')],
    ['at once on another worker than the failed one', ranked, 'a', null, { url: 'c', at: 0 }, 10, open('b')],
    [
      'never on a down or cut-off worker',
      [w('a', 'healthy'), w('b', 'isolated'), w('c', 'down')],
      'a',
      null,
      null,
      0,
      none,
    ],
    ['none with one worker', [w('a', 'healthy')], 'a', null, null, 0, none],
  ]
  for (const [name, list, current, active, failed, now, want] of cases)
    it(name, () => expect(standbyAction(list, current, active, failed, now, 5_000)).toEqual(want))
})

const SQL = 'SELECT id, host, backend FROM routes'
const snapshotPosts = (wk: FakeWorker) =>
  wk.requests.filter((r) => r.method === 'POST' && r.path === '/v1/subscriptions')
const resumes = (wk: FakeWorker) =>
  wk.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/v1/subscriptions/'))
const sorted = (rows: Iterable<JsonSqlValue[]>) => [...rows].map((c) => JSON.stringify(c)).sort()

/** Replays the consumer's events from an empty view; checks `seq` has no gap and no repeat. */
function replayer(live: LiveSubscription): { rows: Map<RowId, JsonSqlValue[]>; errors: string[] } {
  const rows = new Map<RowId, JsonSqlValue[]>()
  const errors: string[] = []
  let seq = 0
  live.on('change', (e) => {
    if (e.seq !== seq + 1) errors.push(`seq ${e.seq} after ${seq}`)
    seq = e.seq
    if (e.type === 'insert') {
      if (rows.has(e.rowid)) errors.push(`insert of existing row ${e.rowid}`)
      rows.set(e.rowid, e.cells)
    } else {
      if (JSON.stringify(rows.get(e.rowid)) !== JSON.stringify(e.previous))
        errors.push(`${e.type} of row ${e.rowid}: previous does not match`)
      if (e.type === 'delete') rows.delete(e.rowid)
      else rows.set(e.rowid, e.cells)
    }
  })
  return { rows, errors }
}

describe('a live subscription with a hot standby', () => {
  let cluster: FakeCluster
  let client: PatinaClient | undefined
  afterEach(async () => {
    await client?.close()
    await cluster?.close()
  })

  const start = async (names: string[]) => {
    cluster = new FakeCluster()
    const ws: FakeWorker[] = []
    for (const [i, n] of names.entries()) {
      const wk = await cluster.addWorker(n, 1000 * i)
      wk.healthDelayMs = 60 * i // ranked in this order: the view on the first, the standby on the second
      ws.push(wk)
    }
    for (let i = 0; i < 20; i++) cluster.write(`r${i}`, [`r${i}`, `r${i}.example`, 'v1'])
    // no voluntary moves between workers of the same tier (RTTs jitter under load): the tests
    // choose which worker dies
    client = createClient({
      workers: ws.map((x) => x.url),
      probeIntervalMs: 50,
      probeTimeoutMs: 400,
      switchPolicy: { switchMarginMs: 1e9, switchRatio: 0 },
    })
    const live = client.watch(SQL, [], { keyColumns: ['id'], standby: true })
    const replay = replayer(live)
    await live.ready
    return { ws, live, replay }
  }

  it('fails over to the standby with writes in flight: no snapshot, nothing lost or repeated', async () => {
    const { ws, live, replay } = await start(['a', 'b'])
    await waitFor('a ready standby', () => live.status().standby?.ready === true)
    // a: the worker the view follows, b: the standby's (ranked by probe RTT: usually the first two)
    const a = ws.find((x) => x.url === live.status().worker) as FakeWorker
    const b = ws.find((x) => x.url === live.status().standby?.worker) as FakeWorker
    expect(a).not.toBe(b)
    // in flight at the kill: a has writes b has not yet received, and b one a never sent
    cluster.write('r1', ['r1', 'r1.example', 'a-only'], [a])
    cluster.write('r2', null, [a])
    cluster.write('new-a', ['new-a', 'n.example', 'a-only'], [a])
    await waitFor('the a-only writes in the view', () => live.findByKey(['new-a']).length === 1)
    cluster.write('r3', ['r3', 'r3.example', 'b-first'], [b])
    await a.stop()
    cluster.write('r4', ['r4', 'r4.example', 'during'], [b])
    await waitFor('failover to b', () => live.status().worker === b.url && live.status().state === 'live')
    // the view is b's: the a-only writes are undone, b's are there
    await waitFor(
      'the view equals b',
      () => sorted(live.rows.values()).join() === sorted(b.data.values()).join(),
    )
    const st = live.status()
    expect(st.counters.standbyFailovers).toBe(1)
    expect(st.counters.failovers).toBe(1)
    expect(snapshotPosts(b)).toHaveLength(1) // the standby's own, before the failover
    expect(resumes(b)).toHaveLength(1)
    expect(resumes(b)[0]?.query['from']).toBeDefined()
    // b catches up (sync): the view follows its changes
    cluster.catchUp(b)
    await waitFor('truth', () => sorted(live.rows.values()).join() === sorted(cluster.truth.values()).join())
    cluster.write('r5', ['r5', 'r5.example', 'after'], [b])
    await waitFor('a write after the failover', () => live.findByKey(['r5'])[0]?.cells[2] === 'after')
    expect(replay.errors).toEqual([])
    expect(sorted(replay.rows.values())).toEqual(sorted(live.rows.values()))
  })

  it('replaces a standby that dies, and fails over to the new one', async () => {
    const { ws, live, replay } = await start(['a', 'b', 'c'])
    const a = ws[0] as FakeWorker
    await waitFor('a ready standby', () => live.status().standby?.ready === true)
    expect(live.status().worker).toBe(a.url)
    // the standby is on b or c (whichever ranked first when it was made): kill it
    const first = ws.find((x) => x.url === live.status().standby?.worker) as FakeWorker
    const other = ws.find((x) => x !== a && x !== first) as FakeWorker
    await first.stop()
    await waitFor(
      'a ready standby on the other worker',
      () => live.status().standby?.worker === other.url && live.status().standby?.ready === true,
    )
    expect(live.status().worker).toBe(a.url)
    cluster.write('r7', ['r7', 'r7.example', 'v2'], [a, other])
    await a.stop()
    cluster.write('r8', ['r8', 'r8.example', 'v2'], [other])
    await waitFor(
      'failover to the other worker',
      () => live.status().worker === other.url && live.status().state === 'live',
    )
    await waitFor('r8 via the other worker', () => live.findByKey(['r8'])[0]?.cells[2] === 'v2')
    expect(live.status().counters.standbyFailovers).toBe(1)
    expect(snapshotPosts(other)).toHaveLength(1)
    expect(sorted(live.rows.values())).toEqual(sorted(other.data.values()))
    expect(replay.errors).toEqual([])
    expect(sorted(replay.rows.values())).toEqual(sorted(live.rows.values()))
  })

  it('with the view worker and the standby both gone: reconnecting, then a snapshot from whoever comes back', async () => {
    const { ws, live, replay } = await start(['a', 'b'])
    const [a, b] = ws as [FakeWorker, FakeWorker]
    await waitFor('a ready standby on b', () => live.status().standby?.ready === true)
    await b.stop()
    await a.stop()
    await waitFor('reconnecting', () => live.status().state === 'reconnecting')
    await waitFor('the standby dropped', () => live.status().standby === null)
    expect(live.status().counters.standbyFailovers).toBe(0)
    // b restarts without its subscriptions: a fresh snapshot, reconciled
    b.forgetSubscriptions()
    cluster.write('r9', ['r9', 'r9.example', 'v3'], [b])
    await b.start()
    await waitFor('live on b', () => live.status().worker === b.url && live.status().state === 'live')
    await waitFor('r9 via b', () => live.findByKey(['r9'])[0]?.cells[2] === 'v3')
    expect(live.status().counters.standbyFailovers).toBe(0)
    expect(replay.errors).toEqual([])
    expect(sorted(replay.rows.values())).toEqual(sorted(live.rows.values()))
  })

  it('falls back to a snapshot when the standby worker lost the subscription', async () => {
    const { ws, live, replay } = await start(['a', 'b'])
    await waitFor('a ready standby', () => live.status().standby?.ready === true)
    const a = ws.find((x) => x.url === live.status().worker) as FakeWorker
    const b = ws.find((x) => x.url === live.status().standby?.worker) as FakeWorker
    // b forgets the subscription but keeps the stream open, so the standby looks ready
    const events: LiveEvent[] = []
    void (async () => {
      for await (const e of live) events.push(e)
    })()
    b.subs.clear()
    await a.stop()
    await waitFor('failover to b', () => live.status().worker === b.url && live.status().state === 'live')
    expect(live.status().counters.standbyFailovers).toBe(1)
    expect(live.status().counters.failovers).toBe(1)
    expect(snapshotPosts(b).length).toBe(2) // the standby's, then the fallback snapshot
    expect(events.some((e) => 'type' in e && e.type === 'synced' && e.reason === 'failover')).toBe(true)
    expect(sorted(live.rows.values())).toEqual(sorted(b.data.values()))
    expect(replay.errors).toEqual([])
  })
})
