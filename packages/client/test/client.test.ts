import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, waitForWrite } from '../src/client.js'
import type { PatinaClient } from '../src/types.js'
import { PatinaClientError } from '../src/errors.js'
import { COLUMNS, FakeCluster, type FakeWorker } from './fake-worker.js'

let cluster: FakeCluster
let w: FakeWorker
let client: PatinaClient

beforeAll(async () => {
  cluster = new FakeCluster()
  w = await cluster.addWorker('a')
  cluster.write('a', ['a', 'a.example', 'b1'])
  cluster.write('b', ['b', 'b.example', 'b2'])
  client = createClient({ url: w.url })
})
afterAll(async () => {
  await client.close()
  await cluster.close()
})

async function rejection(p: Promise<unknown>): Promise<PatinaClientError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(PatinaClientError)
    return err as PatinaClientError
  }
  throw new Error('expected a rejection')
}

describe('typed endpoints', () => {
  it('runs a transaction and returns the ExecResponse; waitForWrite extracts the token', async () => {
    const res = await client.transaction([['UPSERT', ['c', 'c.example', 'b3']]])
    expect(res.actor_id).toBe('actor-a')
    expect(res.results).toEqual([{ rows_affected: 1, time: 0.0001 }])
    expect(waitForWrite(res)).toEqual({ actor_id: 'actor-a', version: res.version })
    expect(waitForWrite({ ...res, version: null })).toBeUndefined()
    cluster.write('c', null)
  })

  it('a failed transaction throws PATINA_ERR_HTTP with the server message and status', async () => {
    const err = await rejection(client.transaction(['FAIL please']))
    expect(err.code).toBe('PATINA_ERR_HTTP')
    expect(err.httpStatus).toBe(500)
    expect(err.serverMessage).toBe('no such table: nope')
    expect(err.serverCode).toBe('PATINA_ERR_SQL')
    expect(err.message).toContain('no such table: nope')
    const empty = await rejection(client.transaction([]))
    expect(empty.httpStatus).toBe(400)
    expect(empty.serverMessage).toBe('at least 1 statement is required')
  })

  it('streams a query as typed events, rows and a collected result', async () => {
    const q = await client.query('SELECT * FROM routes')
    const events = []
    for await (const ev of q) events.push(ev)
    expect(events[0]).toEqual({ columns: COLUMNS })
    expect(q.columns).toEqual(COLUMNS)
    expect(events.at(-1)).toEqual({ eoq: { time: 1e-5 } })
    const all = await client.queryAll({ query: 'SELECT * FROM routes WHERE id = ?', params: ['a'] })
    expect(all.columns).toEqual(COLUMNS)
    expect(all.rows).toEqual([
      { rowid: 1, cells: ['a', 'a.example', 'b1'] },
      { rowid: 2, cells: ['b', 'b.example', 'b2'] },
    ])
    const rows = []
    for await (const r of (await client.query(['SELECT 1', []])).rows()) rows.push(r.cells[0])
    expect(rows).toEqual(['a', 'b'])
  })

  it('sends the statement forms as JSON and read-your-writes parameters in the query string', async () => {
    const stmt = ['SELECT * FROM routes WHERE id = :id', { ':id': 'a' }] as [string, Record<string, string>]
    await client.queryAll(stmt, { waitFor: { actor_id: 'actor-b', version: 7 }, waitTimeoutMs: 1500 })
    const req = w.requests.at(-1)!
    expect(req.body).toEqual(stmt)
    expect(req.query).toMatchObject({ wait_actor: 'actor-b', wait_version: '7', wait_timeout_ms: '1500' })
  })

  it('a refused query carries the server code', async () => {
    const err = await rejection(client.query('INSERT INTO x'))
    expect(err).toMatchObject({
      code: 'PATINA_ERR_HTTP',
      httpStatus: 400,
      serverMessage: 'statement is not readonly',
      serverCode: 'PATINA_ERR_NOT_READONLY',
    })
  })

  it('subscribes (id and hash headers), re-attaches with from, and 404s typed', async () => {
    const s = await client.subscribe('SELECT * FROM routes')
    expect(s.id).toMatch(/^a-sub-/)
    expect(s.hash).toMatch(/^hash-/)
    const it = s[Symbol.asyncIterator]()
    expect((await it.next()).value).toEqual({ columns: COLUMNS })
    await it.next()
    await it.next()
    expect((await it.next()).value).toEqual({ eoq: { time: 1e-5, change_id: 0 } })
    cluster.write('z', ['z', 'z.example', 'b9'])
    expect((await it.next()).value).toEqual({ change: ['insert', 3, ['z', 'z.example', 'b9'], 1] })
    expect(s.lastChangeId).toBe(1)
    s.close()
    cluster.write('z', null)
    const r = await client.subscription(s.id, { from: 1 })
    const ev = await r[Symbol.asyncIterator]().next()
    expect(ev.value).toEqual({ change: ['delete', 3, ['z', 'z.example', 'b9'], 2] })
    r.close()
    const err = await rejection(client.subscription('nope', { from: 3 }))
    expect(err).toMatchObject({
      code: 'PATINA_ERR_HTTP',
      httpStatus: 404,
      serverMessage: 'could not find subscription with id nope',
    })
  })

  it('a subscription stream throws PATINA_ERR_MISSED_CHANGE on a gap in change ids', async () => {
    const s = await client.subscribe('SELECT gap FROM routes')
    const it = s[Symbol.asyncIterator]()
    for (let i = 0; i < 4; i++) await it.next()
    w.gapNext = 2
    cluster.write('y', ['y', 'y', 'y'])
    const err = await rejection(it.next())
    expect(err).toMatchObject({ code: 'PATINA_ERR_MISSED_CHANGE', expected: 1, got: 3 })
    cluster.write('y', null)
  })

  it('updates, table_stats, health and members', async () => {
    const u = await client.updates('routes')
    expect(u.id).toBe('updates-1')
    const notes = []
    for await (const n of u) notes.push(n)
    expect(notes).toEqual([{ notify: ['update', ['a']] }, { notify: ['delete', ['b']] }])
    expect(await client.tableStats(['routes', 'nope'])).toEqual({
      total_row_count: 2,
      invalid_tables: ['nope'],
    })
    const h = await client.health({ gaps: 0, p99LagS: 1.5 })
    expect(h).toMatchObject({ ok: true, httpStatus: 200, health: { gaps: 0 } })
    expect(w.requests.at(-1)!.query).toEqual({ gaps: '0', p99_lag: '1.5' })
    w.healthStatus = 503
    expect((await client.health()).ok).toBe(false)
    w.healthStatus = 200
    const m = await client.members()
    expect(m.members[0]).toMatchObject({ role: 'worker', api_addr: `0.0.0.0:${w.port}` })
  })

  it('sends the bearer token; a 401 is typed', async () => {
    w.token = 'sekrit'
    try {
      expect((await rejection(client.tableStats(['routes']))).httpStatus).toBe(401)
      const authed = createClient({ url: w.url, token: 'sekrit' })
      expect((await authed.tableStats(['routes'])).total_row_count).toBe(2)
      await authed.close()
    } finally {
      w.token = null
    }
  })
})

describe('bad servers', () => {
  let server: http.Server
  let url: string
  let mode = ''
  const stalled: http.ServerResponse[] = []
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume()
      if (mode === 'stall') {
        stalled.push(res)
        return
      }
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'corro-query-id': 'x' })
      if (mode === 'malformed') res.end('{"columns":["a"]}\n{"row":[1,\n')
      else if (mode === 'oversized') {
        res.write('{"columns":["a"]}\n{"row":[1,["')
        res.end('x'.repeat(64 * 1024) + '"]]}\n')
      } else if (mode === 'stall-body') {
        res.write('{"columns":["a"]}\n')
        stalled.push(res)
      } else if (mode === 'not-json') res.end('<html>oops</html>')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    for (const r of stalled) r.destroy()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })

  it('a malformed line is PATINA_ERR_NDJSON', async () => {
    mode = 'malformed'
    const c = createClient({ url })
    const err = await rejection(c.queryAll('SELECT 1'))
    expect(err.code).toBe('PATINA_ERR_NDJSON')
    await c.close()
  })

  it('an oversized line is PATINA_ERR_NDJSON (bounded memory)', async () => {
    mode = 'oversized'
    const c = createClient({ url, maxLineBytes: 4096 })
    const err = await rejection(c.queryAll('SELECT 1'))
    expect(err.code).toBe('PATINA_ERR_NDJSON')
    expect(err.message).toContain('maxLineBytes 4096')
    await c.close()
  })

  it('a server that never answers is PATINA_ERR_TIMEOUT', async () => {
    mode = 'stall'
    const c = createClient({ url, timeoutMs: 200 })
    const err = await rejection(c.tableStats(['x']))
    expect(err.code).toBe('PATINA_ERR_TIMEOUT')
    expect(err.message).toContain('timeoutMs 200')
    await c.close()
  })

  it('a query whose body stalls is PATINA_ERR_TIMEOUT; a subscription stall hits idleTimeoutMs', async () => {
    mode = 'stall-body'
    const c = createClient({ url, timeoutMs: 300 })
    expect((await rejection(c.queryAll('SELECT 1'))).code).toBe('PATINA_ERR_TIMEOUT')
    const s = await c.subscribe('SELECT 1', { idleTimeoutMs: 200, timeoutMs: 0 })
    const err = await rejection(
      (async () => {
        for await (const _ of s) void _
      })(),
    )
    expect(err.code).toBe('PATINA_ERR_TIMEOUT')
    await c.close()
  })

  it('a caller abort rejects with the signal reason', async () => {
    mode = 'stall'
    const c = createClient({ url })
    const ac = new AbortController()
    const p = c.members({ signal: ac.signal })
    const reason = new Error('caller gave up')
    ac.abort(reason)
    await expect(p).rejects.toBe(reason)
    await c.close()
  })

  it('a refused connection is PATINA_ERR_HTTP naming the URL', async () => {
    const dead = http.createServer()
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r))
    const port = (dead.address() as AddressInfo).port
    await new Promise((r) => dead.close(r))
    const c = createClient({ url: `http://127.0.0.1:${port}` })
    const err = await rejection(c.members())
    expect(err.code).toBe('PATINA_ERR_HTTP')
    expect(err.message).toContain(`127.0.0.1:${port}`)
    expect(err.httpStatus).toBeUndefined()
    await c.close()
  })

  it('a request the first worker refuses goes to the next worker', async () => {
    const dead = http.createServer()
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r))
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`
    await new Promise((r) => dead.close(r))
    const c = createClient({ workers: [deadUrl, w.url] })
    const res = await c.transaction([['UPSERT', ['m', 'm.example', 'b']]])
    expect(res.actor_id).toBe('actor-a')
    expect(c.workers().map((x) => [x.url, x.state])).toEqual([
      [w.url, 'unknown'],
      [deadUrl, 'down'],
    ])
    cluster.write('m', null)
    // an explicit worker is never replaced
    expect((await rejection(c.members({ worker: deadUrl }))).code).toBe('PATINA_ERR_HTTP')
    await c.close()
  })

  it('a non-JSON body where JSON is expected is PATINA_ERR_HTTP', async () => {
    mode = 'not-json'
    const c = createClient({ url })
    expect((await rejection(c.members())).code).toBe('PATINA_ERR_HTTP')
    await c.close()
  })

  it('rejects bad options with PATINA_ERR_CONFIG_INVALID naming the key and value', () => {
    expect(() => createClient({})).toThrow(/workers/)
    expect(() => createClient({ url: 'ftp://x' })).toThrow(/workers value "ftp:\/\/x"/)
    expect(() => createClient({ url, timeoutMs: -1 })).toThrow(/timeoutMs value -1/)
  })
})
