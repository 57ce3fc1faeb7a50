import { afterEach, describe, expect, it } from 'vitest'
import type { JsonSqlValue } from '@patina/api'
import { createClient } from '../src/client.js'
import type { LiveEvent, LiveSubscription, PatinaClient } from '../src/types.js'
import { FakeCluster, waitFor } from './fake-worker.js'
import { collect, LIVE_SQL as SQL, row, viewOf, WATCH } from './live-fixtures.js'

let cluster: FakeCluster
let client: PatinaClient | undefined
afterEach(async () => {
  await client?.close()
  client = undefined
  await cluster?.close()
})

/** Row changes as compact tuples: [type, id, backend, source]. */
const changes = (evs: LiveEvent[]): Array<[string, JsonSqlValue, JsonSqlValue, string]> =>
  evs.flatMap((e) =>
    'seq' in e
      ? [
          [e.type, e.cells[0] ?? null, e.cells[2] ?? null, e.source] as [
            string,
            JsonSqlValue,
            JsonSqlValue,
            string,
          ],
        ]
      : [],
  )
const seqs = (evs: LiveEvent[]): number[] => evs.flatMap((e) => ('seq' in e ? [e.seq] : []))
const truthOf = (): Record<string, JsonSqlValue> =>
  Object.fromEntries([...cluster.truth.values()].map((c) => [String(c[0]), c[2] ?? null]))

const FAST: Partial<Parameters<typeof createClient>[0]> = {
  probeIntervalMs: 100,
  probeTimeoutMs: 400,
}

describe('live subscription on one worker', () => {
  it('materializes the snapshot and live changes, with contiguous seq and staleness', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    cluster.write('a', row('a', 'v1'))
    cluster.write('b', row('b', 'v1'))
    client = createClient({ url: a.url, ...FAST })
    const live = client.watch(SQL, [], WATCH)
    const evs = collect(live)
    const seen: string[] = []
    live.on('change', (c) => seen.push(`${c.type}:${String(c.cells[0])}`))
    await live.ready
    expect(live.columns).toEqual(['id', 'host', 'backend'])
    expect(live.get(1)).toEqual(row('a', 'v1'))
    expect(live.findByKey(['b'])).toEqual([{ rowid: 2, cells: row('b', 'v1') }])
    cluster.write('c', row('c', 'v1'))
    cluster.write('a', row('a', 'v2'))
    cluster.write('b', null)
    await waitFor('five changes', () => seen.length === 5)
    expect(changes(evs)).toEqual([
      ['insert', 'a', 'v1', 'snapshot'],
      ['insert', 'b', 'v1', 'snapshot'],
      ['insert', 'c', 'v1', 'change'],
      ['update', 'a', 'v2', 'change'],
      ['delete', 'b', 'v1', 'change'],
    ])
    expect(seqs(evs)).toEqual([1, 2, 3, 4, 5])
    expect(evs.filter((e) => e.type === 'synced')).toEqual([
      { type: 'synced', worker: a.url, changeId: 0, rows: 2, reason: 'initial' },
    ])
    expect(viewOf(live)).toEqual(truthOf())
    const st = live.status()
    expect(st).toMatchObject({ state: 'live', worker: a.url, synced: true, changeId: 3, rows: 2, seq: 5 })
    expect(st.lastHeardAt).not.toBeNull()
    expect(live.lagMs).toBeGreaterThanOrEqual(0)
    await live.close()
    expect(live.status().state).toBe('closed')
  })

  it('resumes a dropped connection with from=<last change id> and loses or repeats nothing', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    cluster.write('a', row('a', 'v1'))
    client = createClient({ url: a.url, ...FAST })
    const live = client.watch(SQL, WATCH)
    const evs = collect(live)
    await live.ready
    cluster.write('b', row('b', 'v1'))
    await waitFor('b', () => live.rows.size === 2)
    a.dropStreams()
    // written while the client is disconnected: replayed from the change log
    cluster.write('c', row('c', 'v1'))
    cluster.write('a', row('a', 'v2'))
    await waitFor(
      'resume',
      () => live.status().counters.resumes >= 1 && live.rows.size === 3 && live.get(1)?.[2] === 'v2',
    )
    cluster.write('d', row('d', 'v1'))
    await waitFor('d', () => live.rows.size === 4)
    const gets = a.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/v1/subscriptions/'))
    expect(gets[0]?.query).toEqual({ from: '1' })
    expect(a.requests.filter((r) => r.method === 'POST' && r.path === '/v1/subscriptions')).toHaveLength(1)
    expect(changes(evs)).toEqual([
      ['insert', 'a', 'v1', 'snapshot'],
      ['insert', 'b', 'v1', 'change'],
      ['insert', 'c', 'v1', 'change'],
      ['update', 'a', 'v2', 'change'],
      ['insert', 'd', 'v1', 'change'],
    ])
    expect(seqs(evs)).toEqual([1, 2, 3, 4, 5])
  })

  it('a gap in change ids re-subscribes and reconciles instead of skipping the missed change', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    cluster.write('a', row('a', 'v1'))
    client = createClient({ url: a.url, ...FAST })
    const live = client.watch(SQL, WATCH)
    const evs = collect(live)
    await live.ready
    // the server skips change id 1: the client must notice, not carry on
    a.gapNext = 1
    cluster.write('b', row('b', 'v1'))
    await waitFor('reconciled', () => live.status().counters.missedChanges === 1 && live.rows.size === 2)
    cluster.write('c', row('c', 'v1'))
    await waitFor('reconciled', () => live.status().counters.missedChanges === 1 && live.rows.size === 3)
    expect(a.requests.filter((r) => r.method === 'POST' && r.path === '/v1/subscriptions')).toHaveLength(2)
    expect(changes(evs)).toEqual([
      ['insert', 'a', 'v1', 'snapshot'],
      ['insert', 'b', 'v1', 'reconcile'],
      ['insert', 'c', 'v1', 'change'],
    ])
    expect(viewOf(live)).toEqual(truthOf())
    expect(evs.filter((e) => e.type === 'synced').map((e) => 'reason' in e && e.reason)).toEqual([
      'initial',
      'resubscribe',
    ])
  })

  it('a malformed line or a server error event reconnects without loss', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    client = createClient({ url: a.url, ...FAST })
    const live = client.watch(SQL, WATCH)
    const evs = collect(live)
    const errors: string[] = []
    live.on('error', (e) => errors.push(e.code))
    await live.ready
    cluster.write('a', row('a', 'v1'))
    await waitFor('a', () => live.rows.size === 1)
    a.injectRaw('{"change":["insert",\n')
    await waitFor('ndjson error', () => errors.includes('PATINA_ERR_NDJSON'))
    cluster.write('b', row('b', 'v1'))
    await waitFor('b', () => live.rows.size === 2 && live.status().state === 'live')
    a.injectRaw('{"error":"subscription already deleted older changes, min change id: 9"}\n')
    await waitFor(
      'resubscribed',
      () =>
        errors.includes('PATINA_ERR_HTTP') &&
        live.status().state === 'live' &&
        live.status().counters.resubscribes === 1,
    )
    cluster.write('c', row('c', 'v1'))
    await waitFor('c', () => live.rows.size === 3)
    expect(changes(evs)).toEqual([
      ['insert', 'a', 'v1', 'change'],
      ['insert', 'b', 'v1', 'change'],
      ['insert', 'c', 'v1', 'change'],
    ])
  })

  it('a lost subscription (404 on resume) is re-created and reconciled', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    cluster.write('a', row('a', 'v1'))
    client = createClient({ url: a.url, ...FAST })
    const live = client.watch(SQL, WATCH)
    const evs = collect(live)
    await live.ready
    cluster.write('b', row('b', 'v1'))
    await waitFor('b', () => live.rows.size === 2)
    a.forgetSubscriptions()
    cluster.write('a', row('a', 'v2'))
    await waitFor('reconciled', () => live.get(1)?.[2] === 'v2')
    expect(changes(evs)).toEqual([
      ['insert', 'a', 'v1', 'snapshot'],
      ['insert', 'b', 'v1', 'change'],
      ['update', 'a', 'v2', 'reconcile'],
    ])
  })

  it('a refused statement fails the subscription with the server message', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    client = createClient({ url: a.url, ...FAST })
    const live = client.watch('SELECT * FROM BAD', WATCH)
    const it = live[Symbol.asyncIterator]()
    await expect(live.ready).rejects.toMatchObject({
      code: 'PATINA_ERR_HTTP',
      httpStatus: 400,
      serverMessage: 'no such table: BAD',
    })
    await expect(it.next()).rejects.toMatchObject({ httpStatus: 400 })
    expect(live.status().state).toBe('failed')
  })

  it('an iterator that falls too far behind fails with PATINA_ERR_SLOW_CONSUMER', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    for (let i = 0; i < 10; i++) cluster.write(`k${i}`, row(`k${i}`, 'v'))
    client = createClient({ url: a.url, ...FAST })
    const live = client.watch(SQL, { ...WATCH, maxQueuedEvents: 5 })
    const it = live[Symbol.asyncIterator]()
    await live.ready
    await expect(it.next()).rejects.toMatchObject({ code: 'PATINA_ERR_SLOW_CONSUMER' })
    expect(live.rows.size).toBe(10)
  })
})

describe('live subscription across workers', () => {
  it('prefers the nearest worker, fails over with reconciliation (exact events), and returns when it recovers', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a', 0)
    const b = await cluster.addWorker('b', 1000) // different rowids
    b.healthDelayMs = 150 // b is "far"
    for (const k of ['a', 'b', 'c']) cluster.write(k, row(k, 'v1'))
    // b listed first: the measured RTT must still pick a
    client = createClient({ workers: [b.url, a.url], ...FAST })
    const live = client.watch(SQL, WATCH)
    const evs = collect(live)
    await live.ready
    expect(live.status().worker).toBe(a.url)
    cluster.write('d', row('d', 'v1'))
    await waitFor('d', () => live.rows.size === 4)

    // kill a; writes continue on b only
    await a.stop()
    cluster.write('b', row('b', 'v2'), [b])
    cluster.write('c', null, [b])
    cluster.write('e', row('e', 'v1'), [b])
    await waitFor('failover to b', () => live.status().worker === b.url && live.status().state === 'live')
    cluster.write('f', row('f', 'v1'), [b])
    await waitFor('f via b', () => live.rows.size === 5 && live.findByKey(['f']).length === 1)
    expect(viewOf(live)).toEqual(truthOf())
    expect(changes(evs)).toEqual([
      ['insert', 'a', 'v1', 'snapshot'],
      ['insert', 'b', 'v1', 'snapshot'],
      ['insert', 'c', 'v1', 'snapshot'],
      ['insert', 'd', 'v1', 'change'],
      ['delete', 'c', 'v1', 'reconcile'],
      ['update', 'b', 'v2', 'reconcile'],
      ['insert', 'e', 'v1', 'reconcile'],
      ['insert', 'f', 'v1', 'change'],
    ])
    expect(seqs(evs)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    // rowids of rows that survived the failover did not change
    expect(live.findByKey(['a'])[0]?.rowid).toBe(1)
    expect(live.findByKey(['b'])[0]?.rowid).toBe(2)
    expect(live.status().counters.failovers).toBe(1)

    // a comes back (caught up by sync): the subscription moves back to it, with nothing to emit
    await a.start()
    cluster.catchUp(a)
    await waitFor('back to a', () => live.status().worker === a.url && live.status().state === 'live')
    expect(live.status().counters.switches).toBe(1)
    cluster.write('g', row('g', 'v1'))
    await waitFor('g via a', () => live.rows.size === 6)
    expect(changes(evs).slice(8)).toEqual([['insert', 'g', 'v1', 'change']])
    expect(seqs(evs)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(evs.filter((e) => e.type === 'synced').map((e) => 'reason' in e && e.reason)).toEqual([
      'initial',
      'failover',
      'switch',
    ])
    expect(viewOf(live)).toEqual(truthOf())
  })

  it('a worker that stalls (no answers, no data) is abandoned for the next one', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a', 0)
    const b = await cluster.addWorker('b', 500)
    cluster.write('a', row('a', 'v1'))
    client = createClient({ workers: [a.url, b.url], ...FAST, probeTimeoutMs: 200 })
    b.healthDelayMs = 100
    const live = client.watch(SQL, WATCH)
    const evs = collect(live)
    await live.ready
    expect(live.status().worker).toBe(a.url)
    a.stalled = true
    cluster.write('b', row('b', 'v1'))
    await waitFor(
      'failover from the stalled worker',
      () => live.status().worker === b.url && live.rows.size === 2,
    )
    expect(changes(evs)).toEqual([
      ['insert', 'a', 'v1', 'snapshot'],
      ['insert', 'b', 'v1', 'reconcile'],
    ])
  })

  it('keeps its view while every worker is down, reports growing lag, and recovers', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a', 0)
    const b = await cluster.addWorker('b', 100)
    cluster.write('a', row('a', 'v1'))
    let t = 1_000_000
    client = createClient({ workers: [a.url, b.url], ...FAST, now: () => t })
    const live = client.watch(SQL, WATCH)
    const evs = collect(live)
    await live.ready
    const heardAt = live.lastHeardAt
    await a.stop()
    await b.stop()
    await waitFor(
      'all down',
      () => live.status().state === 'reconnecting' && client!.workers().every((w) => w.state === 'down'),
    )
    t += 60_000
    expect(live.findByKey(['a'])[0]?.cells).toEqual(row('a', 'v1'))
    expect(live.lastHeardAt).toBe(heardAt)
    expect(live.lagMs).toBeGreaterThanOrEqual(60_000)
    cluster.write('b', row('b', 'v1'), [])
    await b.start()
    cluster.catchUp(b)
    await waitFor('recovered on b', () => live.status().state === 'live' && live.rows.size === 2)
    expect(live.status().worker).toBe(b.url)
    expect(changes(evs)).toEqual([
      ['insert', 'a', 'v1', 'snapshot'],
      ['insert', 'b', 'v1', 'reconcile'],
    ])
  })

  it('discovers workers through /v1/cluster/members', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a', 0)
    const b = await cluster.addWorker('b', 100)
    cluster.write('a', row('a', 'v1'))
    client = createClient({ url: a.url, discover: true, ...FAST })
    const live = client.watch(SQL, WATCH)
    await live.ready
    expect(
      client
        .workers()
        .map((w) => w.url)
        .sort(),
    ).toEqual([a.url, b.url].sort())
    await a.stop()
    cluster.write('b', row('b', 'v1'), [b])
    await waitFor(
      'failover to the discovered worker',
      () => live.status().worker === b.url && live.rows.size === 2,
    )
  })

  it('passes read-your-writes tokens to every subscribe', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    client = createClient({ url: a.url, ...FAST })
    const res = await client.transaction([['UPSERT', ['a', 'a.example', 'v1']]])
    const live = client.watch(SQL, {
      ...WATCH,
      waitFor: { actor_id: res.actor_id, version: res.version! },
      waitTimeoutMs: 2000,
    })
    await live.ready
    const post = a.requests.find((r) => r.method === 'POST' && r.path === '/v1/subscriptions')
    expect(post?.query).toEqual({
      wait_actor: 'actor-a',
      wait_version: String(res.version),
      wait_timeout_ms: '2000',
    })
    expect(live.findByKey(['a'])).toHaveLength(1)
  })
})

describe('watch arguments', () => {
  it('accepts every statement form, with or without params and options', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    client = createClient({ url: a.url, ...FAST })
    const forms: Array<[LiveSubscription, unknown]> = [
      [client.watch('SELECT 1'), 'SELECT 1'],
      [client.watch('SELECT ?', [1]), ['SELECT ?', [1]]],
      [client.watch('SELECT ?', [2], { keyColumns: ['id'] }), ['SELECT ?', [2]]],
      [client.watch('SELECT :x', { ':x': 3 }), ['SELECT :x', { ':x': 3 }]],
      [client.watch('SELECT 4', { keyColumns: ['id'] }), 'SELECT 4'],
      [client.watch({ query: 'SELECT ?', params: [5] }), { query: 'SELECT ?', params: [5] }],
    ]
    for (const [live] of forms) await live.ready
    const bodies = a.requests
      .filter((r) => r.method === 'POST' && r.path === '/v1/subscriptions')
      .map((r) => r.body)
    expect(bodies).toEqual(forms.map(([, body]) => body))
    expect(() => client!.watch({ query: 'SELECT 1' }, [1] as never)).toThrow(/params/)
  })
})
