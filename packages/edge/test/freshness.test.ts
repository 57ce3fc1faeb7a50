/**
 * The edge and workers cut off from their cluster (fake workers serving the health contract):
 * it moves to a worker that is not cut off, or, when none is left, says `stale`; and it never
 * says fresh while its worker's last contact with the cluster is older than `stale_after_ms`.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createEdge, type Edge } from '../src/edge.js'
import type { EdgeHealth } from '../src/health.js'
import { FakeCluster, type FakeWorker } from '../../client/test/fake-worker.js'
import { row } from '../../client/test/live-fixtures.js'

const STALE_AFTER_MS = 1500

let cluster: FakeCluster
let edge: Edge | undefined
afterEach(async () => {
  await edge?.stop()
  edge = undefined
  await cluster?.close()
})

/**
 * Samples the edge's health over HTTP until `done`, and checks on every answer that it says
 * fresh only while the worker it names has heard from its cluster within `stale_after_ms`
 * (measured from the time the request was sent, which is before the edge answered).
 */
async function watchHealth(
  base: string,
  workers: FakeWorker[],
  done: (h: EdgeHealth) => boolean,
  what: string,
): Promise<EdgeHealth[]> {
  const seen: EdgeHealth[] = []
  const deadline = Date.now() + 15_000
  for (;;) {
    const sentAt = Date.now()
    const h = (await (await fetch(`${base}/v1/health`)).json()) as EdgeHealth
    seen.push(h)
    const q = h.queries['routes']
    const w = workers.find((x) => x.url === q?.worker)
    if (q && !q.stale && w?.cutOffAt != null)
      expect(
        sentAt - w.cutOffAt,
        `fresh from ${w.name}, cut off since ${sentAt - w.cutOffAt} ms`,
      ).toBeLessThanOrEqual(STALE_AFTER_MS)
    if (done(h)) return seen
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(h)}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function startEdge(workers: FakeWorker[]): Promise<string> {
  edge = createEdge({
    workers: workers.map((w) => w.url),
    listen: '127.0.0.1:0',
    probe_interval_ms: 100,
    probe_timeout_ms: 400,
    connect_timeout_ms: 500,
    stale_after_ms: STALE_AFTER_MS,
    queries: [{ name: 'routes', sql: 'SELECT id, host, backend FROM routes', key: ['id'] }],
  })
  return edge.start()
}

describe('edge and workers cut off from their cluster', () => {
  it('moves from a cut-off worker to one in contact, and is never fresh from the cut-off one after stale_after_ms', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a', 0)
    const b = await cluster.addWorker('b', 1000)
    b.healthDelayMs = 150 // a is nearer
    cluster.write('x', row('x', 'v1'))
    const base = await startEdge([a, b])
    await watchHealth(
      base,
      [a, b],
      (h) => h.status === 'ok' && h.queries['routes']?.worker === a.url,
      'fresh on a',
    )

    a.cutOff()
    cluster.write('x', row('x', 'v2'), [b])
    await watchHealth(
      base,
      [a, b],
      (h) => h.status === 'ok' && h.queries['routes']?.worker === b.url,
      'fresh on b',
    )
    expect(edge?.lookup('routes', ['x'])).toMatchObject({ rows: [{ backend: 'v2' }], stale: false })
    expect(edge?.subscription('routes').status().counters.failovers).toBeGreaterThanOrEqual(1)
  })

  it('when every worker is cut off, keeps serving and says stale (worker_cut_off), in lookups and health', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a', 0)
    const b = await cluster.addWorker('b', 1000)
    b.healthDelayMs = 150
    cluster.write('x', row('x', 'v1'))
    const base = await startEdge([a, b])
    await watchHealth(base, [a, b], (h) => h.status === 'ok', 'fresh')

    a.cutOff()
    b.cutOff()
    const seen = await watchHealth(
      base,
      [a, b],
      // settled: every worker seen as cut off (before that, the edge may still move to the other one)
      (h) =>
        h.queries['routes']?.stale_reason === 'worker_cut_off' &&
        edge?.client.workers().every((w) => w.state === 'isolated') === true,
      'stale because every worker is cut off',
    )
    const last = seen.at(-1)
    expect(last).toMatchObject({
      status: 'stale',
      queries: { routes: { connected: true, worker_cut_off: true } },
    })
    const res = await fetch(`${base}/v1/lookup/routes?key=x`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ rows: [{ backend: 'v1' }], stale: true })
    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(metrics).toMatch(/patina_edge_stale\{query="routes"\} 1/)

    // contact restored: fresh again
    a.reconnect()
    b.reconnect()
    await watchHealth(base, [a, b], (h) => h.status === 'ok', 'fresh again')
  })
})
