/**
 * Live subscriptions and worker freshness, against fake workers that serve the health contract
 * (`isolated`, `last_contact_ms`, `reachable_members`, `heads`): a worker cut off from its
 * cluster is left for one that is not; a voluntary move never takes the view backwards.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createClient } from '../src/client.js'
import type { PatinaClient } from '../src/types.js'
import { FakeCluster, waitFor } from './fake-worker.js'
import { changesOf, compact, LIVE_SQL as SQL, row, viewOf, WATCH } from './live-fixtures.js'

let cluster: FakeCluster
let client: PatinaClient | undefined
afterEach(async () => {
  await client?.close()
  client = undefined
  await cluster?.close()
})

describe('a worker cut off from its cluster', () => {
  it('is left for a worker that is not, and the view follows the cluster again', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a', 0)
    const b = await cluster.addWorker('b', 1000)
    b.healthDelayMs = 150 // a is nearer
    cluster.write('x', row('x', 'v1'))
    client = createClient({
      workers: [a.url, b.url],
      probeIntervalMs: 50,
      probeTimeoutMs: 400,
      maxContactMs: 1000,
    })
    const live = client.watch(SQL, WATCH)
    const evs = changesOf(live)
    await live.ready
    await waitFor(
      'live on a, in contact',
      () => live.status().worker === a.url && !live.status().workerCutOff,
    )

    // a loses the cluster: it keeps answering, but the writes go to b only
    a.cutOff()
    cluster.write('x', row('x', 'v2'), [b])
    cluster.write('y', row('y', 'v1'), [b])
    await waitFor(
      'the move to b',
      () => live.status().worker === b.url && live.status().state === 'live',
      5000,
    )
    expect(viewOf(live)).toEqual({ x: 'v2', y: 'v1' })
    expect(live.status().workerCutOff).toBe(false)
    expect(live.status().counters.failovers).toBeGreaterThanOrEqual(1)
    expect(compact(evs)).toEqual([
      ['insert', 'x', 'v1', 'snapshot'],
      ['update', 'x', 'v2', 'reconcile'],
      ['insert', 'y', 'v1', 'reconcile'],
    ])

    // a comes back and catches up: it is nearer and has every version, so the view moves back
    a.reconnect()
    await waitFor('back to a', () => live.status().worker === a.url && live.status().state === 'live', 5000)
    cluster.write('z', row('z', 'v1'))
    await waitFor('z via a', () => live.rows.size === 3)
    expect(compact(evs).slice(3)).toEqual([['insert', 'z', 'v1', 'change']])
  })

  it('when every worker is cut off, stays where it is and says so', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a', 0)
    const b = await cluster.addWorker('b', 1000)
    b.healthDelayMs = 150
    cluster.write('x', row('x', 'v1'))
    client = createClient({
      workers: [a.url, b.url],
      probeIntervalMs: 50,
      probeTimeoutMs: 400,
      maxContactMs: 1000,
    })
    const live = client.watch(SQL, WATCH)
    await live.ready
    a.cutOff()
    b.cutOff(true) // b says it is isolated
    await waitFor(
      'both workers seen as cut off',
      () => live.status().workerCutOff && client?.workers().every((w) => w.state === 'isolated') === true,
      5000,
    )
    const settled = live.status()
    expect(settled.state).toBe('live')
    expect(settled.workerContactAgeMs).toBeGreaterThan(1000)
    // more rounds: no move between two cut-off workers, and it keeps saying so
    for (let i = 0; i < 5; i++) await client.pool.probeNow()
    expect(live.status()).toMatchObject({
      worker: settled.worker,
      state: 'live',
      workerCutOff: true,
      counters: { failovers: settled.counters.failovers, switches: settled.counters.switches },
    })
  })
})

describe('voluntary moves never take the view backwards', () => {
  /**
   * The case of review correctness-2 §14: the view follows b (a was down); a comes back nearer
   * but without the last write (paid), which the view already shows. Moving to a would reconcile
   * the view back to `new`, and sync would then bring `paid` again: paid → new → paid.
   */
  it('does not move to a nearer worker that lacks a version the view shows; moves once it has it', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a', 0)
    const b = await cluster.addWorker('b', 1000)
    b.healthDelayMs = 150
    cluster.write('o1', row('o1', 'new'))
    client = createClient({ workers: [a.url, b.url], probeIntervalMs: 50, probeTimeoutMs: 400 })
    const live = client.watch(SQL, WATCH)
    const evs = changesOf(live)
    await live.ready
    expect(live.status().worker).toBe(a.url)

    await a.stop()
    await waitFor(
      'failover to b',
      () => live.status().worker === b.url && live.status().state === 'live',
      5000,
    )
    cluster.write('o1', row('o1', 'paid'), [b]) // a misses it
    await waitFor('paid via b', () => viewOf(live)['o1'] === 'paid')
    await a.start() // nearer again, but behind

    // several probe rounds: a is preferred by RTT but does not cover b, so the view stays on b
    const rounds = 10
    for (let i = 0; i < rounds; i++) await client.pool.probeNow()
    expect(client.workers()[0]?.url).toBe(a.url)
    expect(live.status()).toMatchObject({ worker: b.url, counters: { switches: 0 } })

    cluster.catchUp(a)
    await waitFor(
      'the move to a',
      () => live.status().worker === a.url && live.status().state === 'live',
      5000,
    )
    expect(live.status().counters.switches).toBe(1)
    // never backwards: the only event after paid is none (the switch found nothing to change)
    expect(compact(evs)).toEqual([
      ['insert', 'o1', 'new', 'snapshot'],
      ['update', 'o1', 'paid', 'change'],
    ])
  })

  it('workers that do not report heads (Corrosion) are moved to as before', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a', 0)
    const b = await cluster.addWorker('b', 1000)
    a.freshness = false
    b.freshness = false
    a.healthDelayMs = 150 // b is nearer, but listed second and unknown at first
    cluster.write('o1', row('o1', 'new'))
    client = createClient({ workers: [a.url, b.url], probeIntervalMs: 50, probeTimeoutMs: 400 })
    const live = client.watch(SQL, WATCH)
    await live.ready
    await waitFor('the move to the nearer b', () => live.status().worker === b.url, 5000)
  })
})
