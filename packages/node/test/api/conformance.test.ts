/**
 * Replays the request/response examples of Corrosion's HTTP API (reference/corrosion.md §1)
 * against Patina: same statuses, same shapes, same error bodies (Patina adds a `code` key to
 * JSON error bodies, which Corrosion clients ignore).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { makeApi, ndjson, openStream, type TestApi } from './helpers.js'

const SCHEMA = `CREATE TABLE sandwiches (id INTEGER PRIMARY KEY, sandwich TEXT);
CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE a (pk TEXT NOT NULL PRIMARY KEY, n INTEGER);`

let api: TestApi
beforeEach(async () => {
  api = await makeApi({}, {}, SCHEMA)
})
afterEach(async () => {
  await api.close()
})

const post = (url: string, body: unknown) =>
  api.app.inject({
    method: 'POST',
    url,
    payload: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  })

describe('§1.1 statement forms', () => {
  it('accepts the five forms and named keys with their prefix', async () => {
    const res = await post('/v1/transactions', [
      "INSERT INTO t (id, v) VALUES (0, 's')",
      ['INSERT INTO t (id, v) VALUES (?, ?)', [1, 'x']],
      ['UPDATE t SET v = :v WHERE id = :id', { ':id': 1, ':v': 'y' }],
      { query: 'INSERT INTO t (id, v) VALUES (?, ?)', params: [2, 'z'] },
      { query: 'UPDATE t SET v = :v WHERE id = :id', named_params: { ':id': 2, ':v': 'w' } },
    ])
    expect(res.statusCode).toBe(200)
    expect(res.json().results).toHaveLength(5)
  })
})

describe('§1.2 POST /v1/transactions', () => {
  it('success: {"results":[{"rows_affected":1,"time":…}],"time":…,"version":N,"actor_id":"…"}', async () => {
    const res = await post('/v1/transactions', ["INSERT INTO sandwiches (id, sandwich) VALUES (1, 'burger')"])
    expect(res.statusCode).toBe(200)
    expect(Object.keys(res.json())).toEqual(['results', 'time', 'version', 'actor_id'])
    expect(res.json()).toEqual({
      results: [{ rows_affected: 1, time: expect.any(Number) }],
      time: expect.any(Number),
      version: 1,
      actor_id: api.env.engine.actorId,
    })
  })

  it('version is null when nothing changed (INSERT OR IGNORE on a duplicate key)', async () => {
    await post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (1, 'x')"])
    const res = await post('/v1/transactions', ["INSERT OR IGNORE INTO t (id, v) VALUES (1, 'x')"])
    expect(res.json().version).toBeNull()
  })

  it('empty array: 400 {"results":[{"error":"at least 1 statement is required"}],"time":0.0,"version":null,…}', async () => {
    const res = await post('/v1/transactions', [])
    expect(res.statusCode).toBe(400)
    const { results, ...rest } = res.json()
    expect(results[0].error).toBe('at least 1 statement is required')
    expect(rest).toEqual({ time: 0, version: null, actor_id: api.env.engine.actorId })
  })

  it('SQL error: 500, whole batch rolled back, error in results, version null', async () => {
    const res = await post('/v1/transactions', [
      "INSERT INTO t (id, v) VALUES (5, 'x')",
      'INSERT INTO missing VALUES (1)',
    ])
    expect(res.statusCode).toBe(500)
    expect(res.json()).toMatchObject({
      results: [{ error: expect.stringMatching(/missing/) }],
      time: 0,
      version: null,
    })
    const count = await post('/v1/queries', 'SELECT count(*) FROM t WHERE id = 5')
    expect(ndjson(count.body)[1]).toEqual({ row: [1, [0]] })
  })
})

describe('§1.3 POST /v1/queries', () => {
  it('NDJSON columns, row [rowid,[cells]] with 1-based ids, eoq{time} without change_id', async () => {
    await post('/v1/transactions', ["INSERT INTO sandwiches (id, sandwich) VALUES (1, 'burger'), (2, 'ham')"])
    const res = await post('/v1/queries', 'SELECT id, sandwich FROM sandwiches ORDER BY id')
    expect(res.statusCode).toBe(200)
    const ev = ndjson(res.body)
    expect(ev).toEqual([
      { columns: ['id', 'sandwich'] },
      { row: [1, [1, 'burger']] },
      { row: [2, [2, 'ham']] },
      { eoq: { time: expect.any(Number) } },
    ])
    expect(Object.keys(ev[3]?.['eoq'] as object)).toEqual(['time'])
  })

  it('write statement: 400 {"error":"statement is not readonly"}', async () => {
    const res = await post('/v1/queries', "INSERT INTO t (id, v) VALUES (1, 'x')")
    expect(res.statusCode).toBe(400)
    expect(res.json().error).toBe('statement is not readonly')
  })

  it('prepare error: 400 {"error":"…"}', async () => {
    const res = await post('/v1/queries', 'SELECT nosuchfn(1)')
    expect(res.statusCode).toBe(400)
    expect(res.json().error).toMatch(/no such function: nosuchfn/)
  })

  it('blobs come back as arrays of byte numbers', async () => {
    const res = await post('/v1/queries', "SELECT X'01FF'")
    expect(ndjson(res.body)[1]).toEqual({ row: [1, [[1, 255]]] })
  })
})

describe('§1.4 subscriptions', () => {
  it('replays the documented stream: columns, rows, eoq{change_id:0}, update, insert, delete', async () => {
    await post('/v1/transactions', [
      "INSERT INTO sandwiches (id, sandwich) VALUES (1, 'shiitake'), (2, 'ham')",
    ])
    const s = await openStream(api, {
      method: 'POST',
      url: '/v1/subscriptions',
      payload: 'SELECT sandwich FROM sandwiches',
    })
    expect(s.headers['corro-query-id']).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    )
    expect(s.headers['corro-query-hash']).toMatch(/^[0-9a-f]+$/)
    await s.waitFor(4)
    await post('/v1/transactions', ["UPDATE sandwiches SET sandwich = 'smoked meat' WHERE id = 2"])
    await s.waitFor(5)
    await post('/v1/transactions', ["INSERT INTO sandwiches (id, sandwich) VALUES (3, 'brie')"])
    await s.waitFor(6)
    await post('/v1/transactions', ['DELETE FROM sandwiches WHERE id = 3'])
    await s.waitFor(7)
    expect(s.events).toEqual([
      { columns: ['sandwich'] },
      { row: [1, ['shiitake']] },
      { row: [2, ['ham']] },
      { eoq: { time: expect.any(Number), change_id: 0 } },
      { change: ['update', 2, ['smoked meat'], 1] },
      { change: ['insert', 3, ['brie'], 2] },
      { change: ['delete', 3, ['brie'], 3] },
    ])
  })

  it('from=N on GET replays only changes after N; skip_rows suppresses the snapshot', async () => {
    const s = await openStream(api, {
      method: 'POST',
      url: '/v1/subscriptions',
      payload: 'SELECT id, v FROM t',
    })
    await s.waitFor(2)
    for (let i = 1; i <= 3; i++)
      await post('/v1/transactions', [['INSERT INTO t (id, v) VALUES (?, ?)', [i, 'v']]])
    await s.waitFor(5)
    const id = s.headers['corro-query-id'] as string
    const r = await openStream(api, { method: 'GET', url: `/v1/subscriptions/${id}?from=2` })
    await r.waitFor(1)
    expect(r.events).toEqual([{ change: ['insert', 3, [3, 'v'], 3] }])
    const k = await openStream(api, { method: 'GET', url: `/v1/subscriptions/${id}?skip_rows=true` })
    await post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (4, 'v')"])
    await k.waitFor(1)
    expect(k.events).toEqual([{ change: ['insert', 4, [4, 'v'], 4] }])
  })

  it('400 for from without a subscription, 404 for an unknown id, 400 for an unknown table', async () => {
    const from = await post('/v1/subscriptions?from=1', 'SELECT id FROM t')
    expect(from.statusCode).toBe(400)
    expect(from.json().error).toBe('a `from` query param was supplied, but no existing subscription found')
    const id = '9a0e5a1d-2f4b-4a53-9d2c-0a3f6a0b1c2d'
    const get = await api.app.inject({ method: 'GET', url: `/v1/subscriptions/${id}` })
    expect(get.statusCode).toBe(404)
    expect(get.json().error).toBe(`could not find subscription with id ${id}`)
    const table = await post('/v1/subscriptions', 'SELECT * FROM nope')
    expect(table.statusCode).toBe(400)
  })
})

describe('§1.5 POST /v1/updates/{table}', () => {
  it('streams notify update/delete with pk values, no snapshot', async () => {
    await post('/v1/transactions', ["INSERT INTO a (pk, n) VALUES ('pk0', 0)"])
    const s = await openStream(api, { method: 'POST', url: '/v1/updates/a' })
    expect(s.headers['corro-query-id']).toBeDefined()
    await post('/v1/transactions', ["INSERT INTO a (pk, n) VALUES ('pk1', 1)"])
    await post('/v1/transactions', ["DELETE FROM a WHERE pk = 'pk1'"])
    await s.waitFor(2)
    expect(s.events).toEqual([{ notify: ['update', ['pk1']] }, { notify: ['delete', ['pk1']] }])
    expect((await post('/v1/updates/nope', undefined)).statusCode).toBe(400)
  })
})

describe('§1.6 POST /v1/table_stats', () => {
  it('{"tables":["a","b"]} -> {"total_row_count":N,"invalid_tables":["b"]}', async () => {
    await post('/v1/transactions', ["INSERT INTO a (pk, n) VALUES ('x', 1), ('y', 2)"])
    const res = await post('/v1/table_stats', { tables: ['a', 'b'] })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ total_row_count: 2, invalid_tables: ['b'] })
  })
})

describe('§1.7 GET /v1/health', () => {
  it('{"response":{"gaps":0,"members":N,"p99_lag":…,"queue_size":0}} and the failure status', async () => {
    api.health = { queueSize: 0, p99LagSec: 0.21 }
    const ok = await api.app.inject({ method: 'GET', url: '/v1/health' })
    expect(ok.statusCode).toBe(200)
    // Corrosion's four fields, plus Patina's isolation fields
    expect(ok.json()).toEqual({
      response: {
        gaps: 0,
        members: 1,
        p99_lag: 0.21,
        queue_size: 0,
        isolated: false,
        last_contact_ms: null,
        reachable_members: 0,
      },
    })
    const bad = await api.app.inject({ method: 'GET', url: '/v1/health?p99_lag=0.1&failure_status=418' })
    expect(bad.statusCode).toBe(418)
  })
})

describe('§1 auth and limits', () => {
  it('401 with an empty body without the bearer token', async () => {
    await api.close()
    api = await makeApi({ tokens: [{ token: 's3cret', role: 'write' }] }, {}, SCHEMA)
    const res = await api.app.inject({ method: 'GET', url: '/v1/health' })
    expect(res.statusCode).toBe(401)
    expect(res.body).toBe('')
    const ok = await api.app.inject({
      method: 'GET',
      url: '/v1/health',
      headers: { authorization: 'Bearer s3cret' },
    })
    expect(ok.statusCode).toBe(200)
  })
})
