import { afterEach, describe, expect, it } from 'vitest'
import { createClient } from '../src/client.js'
import { UNKNOWN_FRESHNESS } from '../src/freshness.js'
import { standbyTarget } from '../src/live-standby.js'
import type { PatinaClient } from '../src/types.js'
import type { WorkerStatus } from '../src/workers.js'
import { FakeCluster, waitFor } from './fake-worker.js'

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

describe('standbyTarget', () => {
  const ranked = [w('a', 'healthy'), w('b', 'healthy'), w('c', 'unhealthy')]
  const cases: Array<
    [string, WorkerStatus[], string | null, { url: string; at: number } | null, number, string | null]
  > = [
    ['the next worker after the current one', ranked, 'a', null, 0, 'b'],
    ['the best one when the view follows another', ranked, 'b', null, 0, 'a'],
    ['not again before the refresh is due', ranked, 'a', { url: 'b', at: 0 }, 59_999, null],
    ['again once it is due', ranked, 'a', { url: 'b', at: 0 }, 60_000, 'b'],
    ['at once when the next worker changed', ranked, 'a', { url: 'c', at: 0 }, 10, 'b'],
    [
      'never on a down or cut-off worker',
      [w('a', 'healthy'), w('b', 'isolated'), w('c', 'down')],
      'a',
      null,
      0,
      null,
    ],
    ['none while the view follows no worker', ranked, null, null, 0, null],
    ['none with one worker', [w('a', 'healthy')], 'a', null, 0, null],
  ]
  for (const [name, list, current, last, now, want] of cases)
    it(name, () => expect(standbyTarget(list, current, last, now, 60_000)).toBe(want))
})

describe('a live subscription with a standby', () => {
  let cluster: FakeCluster
  let client: PatinaClient | undefined
  afterEach(async () => {
    await client?.close()
    await cluster?.close()
  })

  it('opens the subscription on the next worker (rows skipped), and fails over to it', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a', 0)
    const b = await cluster.addWorker('b', 1000)
    b.healthDelayMs = 150
    cluster.write('x', ['x', 'x.example', 'v1'])
    client = createClient({ workers: [a.url, b.url], probeIntervalMs: 50, probeTimeoutMs: 400 })
    const live = client.watch('SELECT id, host, backend FROM routes', {
      keyColumns: ['id'],
      standbyRefreshMs: 60_000,
    })
    await live.ready
    await waitFor('the standby on b', () => b.subs.size === 1)
    const standbyPosts = () =>
      b.requests.filter(
        (r) => r.method === 'POST' && r.path === '/v1/subscriptions' && r.query['skip_rows'] === 'true',
      )
    expect(standbyPosts()).toHaveLength(1)
    expect(a.requests.filter((r) => r.query['skip_rows'] === 'true')).toHaveLength(0)
    const standbyId = [...b.subs.keys()][0]
    await a.stop()
    cluster.write('x', ['x', 'x.example', 'v2'], [b])
    await waitFor('failover to b', () => live.status().worker === b.url && live.status().state === 'live')
    expect(live.status().subscriptionId).toBe(standbyId)
    await waitFor('v2 via b', () => live.get(1)?.[2] === 'v2')
    // on b now: no standby on a (down), and none made again on b
    expect(standbyPosts()).toHaveLength(1)
  })
})
