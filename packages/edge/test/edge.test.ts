import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createEdge, runEdge, type Edge } from '../src/edge.js'
import type { EdgeConfigInput } from '../src/config.js'
import type { LiveChange } from '@patina/client'
import { FakeCluster, waitFor, type FakeWorker } from '../../client/test/fake-worker.js'
import { row } from '../../client/test/live-fixtures.js'

let cluster: FakeCluster
let dir: string
const edges: Edge[] = []
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'patina-edge-'))
})
afterEach(async () => {
  for (const e of edges.splice(0)) await e.stop()
  await cluster?.close()
  rmSync(dir, { recursive: true, force: true })
})

function config(workers: FakeWorker[], over: Partial<EdgeConfigInput> = {}): EdgeConfigInput {
  return {
    workers: workers.map((w) => w.url),
    listen: '127.0.0.1:0',
    probe_interval_ms: 100,
    probe_timeout_ms: 400,
    connect_timeout_ms: 500,
    stale_after_ms: 60_000,
    queries: [
      { name: 'routes', sql: 'SELECT id, host, backend FROM routes', key: ['id'] },
      { name: 'by-host', sql: 'SELECT id, host, backend FROM routes WHERE 1', key: ['id', 'host'] },
    ],
    ...over,
  }
}

// test helper: the bodies are checked field by field with toMatchObject/toEqual
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function get(base: string, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path)
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // metrics are text
  }
  return { status: res.status, body }
}

async function started(cfg: EdgeConfigInput): Promise<{ edge: Edge; base: string }> {
  const edge = createEdge(cfg)
  edges.push(edge)
  const base = await edge.start()
  return { edge, base }
}

describe('patina edge', () => {
  it('serves lookups, views, health and metrics from memory', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    cluster.write('a', row('a', 'b1'))
    cluster.write('b', row('b', 'b2'))
    const { edge, base } = await started(config([a]))
    await waitFor('synced', () => edge.health().status === 'ok')

    const hit = await get(base, '/v1/lookup/routes?key=a')
    expect(hit.status).toBe(200)
    expect(hit.body).toMatchObject({
      query: 'routes',
      key: ['a'],
      rows: [{ id: 'a', host: 'a.example', backend: 'b1' }],
      stale: false,
    })
    expect((await get(base, '/v1/lookup/by-host?key=b&key=b.example')).body.rows).toEqual([
      { id: 'b', host: 'b.example', backend: 'b2' },
    ])
    expect((await get(base, '/v1/lookup/by-host?key=b,b.example')).body.rows).toHaveLength(1)
    expect((await get(base, '/v1/lookup/by-host?id=b&host=b.example')).body.rows).toHaveLength(1)
    const miss = await get(base, '/v1/lookup/routes?key=zzz')
    expect(miss.status).toBe(404)
    expect(miss.body.error).toContain('no row in query routes with key ["zzz"]')
    expect((await get(base, '/v1/lookup/by-host?key=b')).status).toBe(400)
    const unknown = await get(base, '/v1/lookup/nope?key=a')
    expect(unknown.status).toBe(404)
    expect(unknown.body.error).toContain('configured: routes, by-host')

    // in-process lookup and live updates
    cluster.write('c', row('c', 'b3'))
    await waitFor('c', () => edge.lookup('routes', ['c']).rows.length === 1)
    cluster.write('a', null)
    await waitFor('a deleted', () => edge.lookup('routes', ['a']).rows.length === 0)

    const view = await get(base, '/v1/views/routes')
    expect(view.body).toMatchObject({
      query: 'routes',
      key: ['id'],
      columns: ['id', 'host', 'backend'],
      synced: true,
      stale: false,
    })
    expect(view.body.rows.map((r: { id: string }) => r.id).sort()).toEqual(['b', 'c'])

    const health = await get(base, '/v1/health')
    expect(health.status).toBe(200)
    expect(health.body).toMatchObject({
      status: 'ok',
      stale: false,
      queries: { routes: { synced: true, connected: true, worker: a.url, rows: 2 } },
    })

    const metrics = await get(base, '/metrics')
    expect(metrics.body).toMatch(/patina_edge_staleness_seconds\{query="routes"\} \d/)
    expect(metrics.body).toMatch(/patina_edge_events_total\{query="routes",type="insert"\} 3/)
    expect(metrics.body).toMatch(/patina_edge_events_total\{query="routes",type="delete"\} 1/)
    expect(metrics.body).toMatch(/patina_edge_lookups_total\{query="routes",result="hit"\} \d/)
    expect(metrics.body).toMatch(/patina_edge_connected\{query="routes"\} 1/)
  })

  it('answers 503 before the first sync, then 200', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    cluster.write('a', row('a', 'b1'))
    a.stalled = true
    const { edge, base } = await started(config([a]))
    const h = await get(base, '/v1/health')
    expect(h.status).toBe(503)
    expect(h.body.status).toBe('unsynced')
    const l = await get(base, '/v1/lookup/routes?key=a')
    expect(l.status).toBe(503)
    expect(l.body.error).toContain('never synced')
    a.stalled = false
    await waitFor('synced after the stall', () => edge.health().status === 'ok')
    expect((await get(base, '/v1/lookup/routes?key=a')).status).toBe(200)
  })

  it('keeps serving the last state while every worker is down, says so, and recovers', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a', 0)
    const b = await cluster.addWorker('b', 700)
    cluster.write('a', row('a', 'b1'))
    const { edge, base } = await started(config([a, b], { stale_after_ms: 60_000 }))
    await waitFor('synced', () => edge.health().status === 'ok')
    await a.stop()
    await b.stop()
    await waitFor('disconnected', () => edge.health().queries['routes']?.connected === false)
    const h = await get(base, '/v1/health')
    expect(h.status).toBe(200)
    expect(h.body).toMatchObject({
      status: 'stale',
      stale: true,
      queries: { routes: { stale: true, connected: false, synced: true } },
    })
    const l = await get(base, '/v1/lookup/routes?key=a')
    expect(l.status).toBe(200)
    expect(l.body).toMatchObject({ rows: [{ id: 'a', backend: 'b1' }], stale: true })
    expect((await get(base, '/metrics')).body).toMatch(/patina_edge_stale\{query="routes"\} 1/)
    // a worker returns, with a change made meanwhile
    cluster.write('a', row('a', 'b9'), [])
    await b.start()
    cluster.catchUp(b)
    await waitFor('recovered', () => edge.health().status === 'ok')
    expect(edge.lookup('routes', ['a']).rows[0]?.['backend']).toBe('b9')
  })

  it('persists the views and restarts warm from the state file, reconciling only the differences', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    for (const k of ['a', 'b', 'c']) cluster.write(k, row(k, 'v1'))
    const stateFile = join(dir, 'edge-state.json')
    const cfg = config([a], { state_file: stateFile, persist_interval_ms: 50 })
    const first = await started(cfg)
    await waitFor('synced', () => first.edge.health().status === 'ok')
    cluster.write('d', row('d', 'v1'))
    await waitFor(
      'persisted',
      () =>
        existsSync(stateFile) && JSON.parse(readFileSync(stateFile, 'utf8')).queries.routes.rows.length === 4,
    )
    await first.edge.stop()
    edges.splice(edges.indexOf(first.edge), 1)
    await a.stop()

    // while the edge is down: one update, one delete
    cluster.write('b', row('b', 'v2'), [])
    cluster.write('c', null, [])
    const second = await started(cfg)
    const seen: LiveChange[] = []
    second.edge.subscription('routes').on('change', (c) => seen.push(c))
    // no worker yet: served from the file, flagged stale
    const h = await get(second.base, '/v1/health')
    expect(h.status).toBe(200)
    expect(h.body).toMatchObject({
      status: 'stale',
      queries: { routes: { synced: false, has_state: true, rows: 4 } },
    })
    expect((await get(second.base, '/v1/lookup/routes?key=c')).body.rows).toEqual([
      { id: 'c', host: 'c.example', backend: 'v1' },
    ])
    await a.start()
    cluster.catchUp(a)
    await waitFor('synced after warm start', () => second.edge.health().status === 'ok')
    expect(seen.map((c) => [c.type, c.cells[0], c.source])).toEqual([
      ['delete', 'c', 'reconcile'],
      ['update', 'b', 'reconcile'],
    ])
    expect(second.edge.lookup('routes', ['b']).rows[0]?.['backend']).toBe('v2')
  })

  it('starts cold when the state file is corrupt or belongs to another query', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    cluster.write('a', row('a', 'v1'))
    const stateFile = join(dir, 'state.json')
    writeFileSync(stateFile, '{not json')
    const { edge } = await started(config([a], { state_file: stateFile }))
    await waitFor('synced', () => edge.health().status === 'ok')
    expect(edge.lookup('routes', ['a']).rows).toHaveLength(1)
  })

  it('runEdge loads a TOML file and stops on abort', async () => {
    cluster = new FakeCluster()
    const a = await cluster.addWorker('a')
    cluster.write('a', row('a', 'v1'))
    const p = join(dir, 'edge.toml')
    writeFileSync(
      p,
      `workers = ["${a.url}"]
listen = "127.0.0.1:0"
[[queries]]
name = "routes"
sql = "SELECT id, host, backend FROM routes"
key = ["id"]
`,
    )
    const ac = new AbortController()
    const { pino } = await import('pino')
    const edge = await runEdge(p, { signal: ac.signal, logger: pino({ level: 'silent' }) })
    await waitFor('synced', () => edge.health().status === 'ok')
    expect(edge.lookup('routes', ['a']).rows).toHaveLength(1)
    ac.abort()
    await waitFor('subscription closed', () => a.streamCount() === 0)
  })
})
