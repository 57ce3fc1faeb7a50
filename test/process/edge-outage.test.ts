/**
 * `patina edge` (runEdge with a TOML config) when every worker is down: lookups keep answering
 * from the last state, health and metrics say it is stale and for how long, and when a worker
 * comes back the edge reconciles with it and follows the writes made after.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runEdge, type Edge, type EdgeHealth } from '@patina/edge'
import { createLogger } from '@patina/node'
import { waitFor } from '../helpers/cluster.js'
import { clusterRoutes, execOn, ROUTES_COLUMNS, ROUTES_SQL, sortedRows } from '../helpers/edge.js'
import { makeWorkers, type WorkerProcess } from '../helpers/process.js'

interface LookupBody {
  rows: Array<Record<string, unknown>>
  stale: boolean
  lag_ms: number | null
}

describe('edge with every worker down (multi-process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patina-edge-outage-'))
  let workers: WorkerProcess[] = []
  let edge: Edge | undefined
  let edgeUrl = ''
  const STALE_AFTER_MS = 1_500

  const w = (i: number): WorkerProcess => workers[i] as WorkerProcess
  const get = async <T>(path: string): Promise<{ status: number; body: T }> => {
    const r = await fetch(`${edgeUrl}${path}`, { signal: AbortSignal.timeout(10_000) })
    return { status: r.status, body: (await r.json()) as T }
  }
  const lookup = (host: string) => get<LookupBody>(`/v1/lookup/routes?key=${encodeURIComponent(host)}`)
  const health = () => get<EdgeHealth>('/v1/health')
  const viewRows = async () =>
    sortedRows(
      (await get<{ rows: Array<Record<string, never>> }>('/v1/views/routes')).body.rows.map((r) =>
        ROUTES_COLUMNS.map((c) => r[c] ?? null),
      ),
    )
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`${edgeUrl}/metrics`)).text()
    const m = new RegExp(`^${name}\\{query="routes"\\} (\\S+)$`, 'm').exec(text)
    if (!m) throw new Error(`metric ${name} missing`)
    return Number(m[1])
  }
  const row = (host: string, backend: string, weight: number) => ({ host, app: 'edge', backend, weight })
  const upsert = (url: string, host: string, backend: string, weight: number) =>
    execOn(url, [
      [
        'INSERT INTO routes (host, app, backend, weight) VALUES (?, ?, ?, ?) ON CONFLICT (host) DO UPDATE SET backend = excluded.backend, weight = excluded.weight',
        [host, 'edge', backend, weight],
      ],
    ])

  beforeAll(async () => {
    workers = await makeWorkers(dir, 2)
    await Promise.all(workers.map((x) => x.start()))
    const configPath = join(dir, 'edge.toml')
    writeFileSync(
      configPath,
      [
        `workers = ["${w(0).apiUrl}", "127.0.0.1:${w(1).spec.apiPort}"]`,
        'listen = "127.0.0.1:0"',
        `stale_after_ms = ${STALE_AFTER_MS}`,
        'probe_interval_ms = 300',
        'probe_timeout_ms = 2000',
        'connect_timeout_ms = 5000',
        '[[queries]]',
        'name = "routes"',
        `sql = "${ROUTES_SQL} WHERE app = ?"`,
        'params = ["edge"]',
        'key = ["host"]',
      ].join('\n'),
    )
    edge = await runEdge(configPath, {
      logger: createLogger({ format: 'json', level: 'silent', colors: false }, { destination: 2 }),
    })
    const addr = edge.server.address()
    edgeUrl = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`
  }, 90_000)

  afterAll(async () => {
    await edge?.stop()
    await Promise.all(workers.map((x) => x.signal('SIGKILL')))
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves the last state while no worker answers, says it is stale, and recovers', async () => {
    // some state: 20 rows, a few updated, a few deleted, one row the query filters out. Each
    // key is written on one worker only (h<i> on w<i % 2>), so no write races with gossip.
    for (let i = 0; i < 20; i++) await upsert(w(i % 2).apiUrl, `h${i}`, `b${i}`, i)
    for (let i = 0; i < 5; i++) await upsert(w(i % 2).apiUrl, `h${i}`, `u${i}`, 100 + i)
    for (const i of [18, 19])
      await execOn(w(i % 2).apiUrl, [['DELETE FROM routes WHERE host = ?', [`h${i}`]]])
    await execOn(w(0).apiUrl, [
      ['INSERT INTO routes (host, app, backend, weight) VALUES (?, ?, ?, ?)', ['other', 'x', 'y', 1]],
    ])
    const expected = await waitFor('both workers agree', async () => {
      const [a, b] = await Promise.all([clusterRoutes(w(0).apiUrl), clusterRoutes(w(1).apiUrl)])
      return a.length === 19 && JSON.stringify(a) === JSON.stringify(b) && a.filter((r) => r[1] === 'edge')
    })
    expect(expected).toHaveLength(18)
    await waitFor(
      'the edge holds the cluster state',
      async () => JSON.stringify(await viewRows()) === JSON.stringify(expected),
    )
    const before = await health()
    expect(before.status).toBe(200)
    expect(before.body).toMatchObject({
      status: 'ok',
      stale: false,
      queries: { routes: { connected: true, synced: true } },
    })
    const attached = before.body.queries['routes']?.worker

    // every worker down
    await Promise.all(workers.map((x) => x.signal('SIGKILL')))
    const down = await waitFor(
      'health to report staleness',
      async () => {
        const h = await health()
        const q = h.body.queries['routes']
        return (
          h.status === 200 &&
          h.body.stale &&
          q &&
          !q.connected &&
          q.lag_ms !== null &&
          q.lag_ms > STALE_AFTER_MS &&
          h
        )
      },
      30_000,
    )
    expect(down.body.status).toBe('stale')
    const q = down.body.queries['routes']
    expect(q).toMatchObject({
      synced: true,
      has_state: true,
      connected: false,
      stale: true,
      worker: attached,
      rows: 18,
    })
    expect(q?.last_heard_at).toBeTypeOf('number')
    // staleness keeps growing while nobody answers, from the same last word
    const later = await waitFor(
      'lag to grow',
      async () => {
        const h = (await health()).body.queries['routes']
        return h && (h.lag_ms ?? 0) > (q?.lag_ms ?? 0) && h
      },
      10_000,
    )
    expect(later.last_heard_at).toBe(q?.last_heard_at)
    expect(await metric('patina_edge_stale')).toBe(1)
    expect(await metric('patina_edge_connected')).toBe(0)
    expect(await metric('patina_edge_staleness_seconds')).toBeGreaterThan(STALE_AFTER_MS / 1000)

    // lookups answer from the last state, marked stale
    const hit = await lookup('h3')
    expect(hit.status).toBe(200)
    expect(hit.body).toMatchObject({ rows: [row('h3', 'u3', 103)], stale: true })
    expect(hit.body.lag_ms).toBeGreaterThan(STALE_AFTER_MS)
    expect((await lookup('h12')).body.rows).toEqual([row('h12', 'b12', 12)])
    const gone = await lookup('h19')
    expect(gone.status).toBe(404)
    expect(gone.body.stale).toBe(true)
    expect((await lookup('other')).status).toBe(404)
    expect(await viewRows()).toEqual(expected)
    expect(edge?.lookup('routes', ['h7']).rows).toEqual([row('h7', 'b7', 7)])

    // a worker comes back (the one the edge was not attached to, when it was attached to w0);
    // writes made on it after the outage reach the edge
    const back = attached === w(0).apiUrl ? w(1) : w(0)
    await back.start()
    await upsert(back.apiUrl, 'h3', 'after', 1003)
    await upsert(back.apiUrl, 'new1', 'n1', 2001)
    await execOn(back.apiUrl, [['DELETE FROM routes WHERE host = ?', ['h12']]])
    await waitFor(
      'the edge to recover',
      async () => {
        const h = await health()
        return h.status === 200 && !h.body.stale && h.body.queries['routes']?.worker === back.apiUrl && h
      },
      30_000,
    )
    await waitFor('the writes made after the outage', async () => {
      const [a, b, c] = await Promise.all([lookup('h3'), lookup('new1'), lookup('h12')])
      return (
        JSON.stringify(a.body.rows) === JSON.stringify([row('h3', 'after', 1003)]) &&
        JSON.stringify(b.body.rows) === JSON.stringify([row('new1', 'n1', 2001)]) &&
        c.status === 404
      )
    })
    const now = (await clusterRoutes(back.apiUrl)).filter((r) => r[1] === 'edge')
    expect(await viewRows()).toEqual(now)
    const fresh = await lookup('new1')
    expect(fresh.body.stale).toBe(false)
    expect(await metric('patina_edge_stale')).toBe(0)
    expect(await metric('patina_edge_connected')).toBe(1)
    expect(await metric('patina_edge_failovers_total')).toBeGreaterThanOrEqual(1)
  })
  it('comes back to the same worker when that one restarts (down again, then resumed or resubscribed)', async () => {
    const attached = (await health()).body.queries['routes']?.worker
    const same = workers.find((x) => x.apiUrl === attached) as WorkerProcess
    expect(same).toBeDefined()
    const counters = () => edge?.subscription('routes').status().counters
    const resumesBefore = counters()?.resumes ?? 0
    await Promise.all(workers.map((x) => x.signal('SIGKILL')))
    await waitFor(
      'health to report staleness again',
      async () => (await health()).body.queries['routes']?.connected === false,
    )
    expect((await lookup('new1')).body).toMatchObject({ rows: [row('new1', 'n1', 2001)], stale: true })

    // the worker restarts from its database (its subscriptions are persisted) and takes writes at once
    await same.start()
    await upsert(same.apiUrl, 'h5', 'again', 3005)
    await upsert(same.apiUrl, 'new2', 'n2', 3002)
    await execOn(same.apiUrl, [['DELETE FROM routes WHERE host = ?', ['h7']]])
    await waitFor(
      'the edge to recover on the same worker',
      async () => {
        const h = await health()
        return !h.body.stale && h.body.queries['routes']?.worker === same.apiUrl
      },
      30_000,
    )
    await waitFor('the writes made after the restart', async () => {
      const [a, b, c] = await Promise.all([lookup('h5'), lookup('new2'), lookup('h7')])
      return (
        JSON.stringify(a.body.rows) === JSON.stringify([row('h5', 'again', 3005)]) &&
        JSON.stringify(b.body.rows) === JSON.stringify([row('new2', 'n2', 3002)]) &&
        c.status === 404
      )
    })
    expect(await viewRows()).toEqual((await clusterRoutes(same.apiUrl)).filter((r) => r[1] === 'edge'))
    console.log('same-worker restart: counters', JSON.stringify(counters()), 'resumes before', resumesBefore)
  })
})
