/**
 * Replays the request/response facts of Corrosion's HTTP API (reference/corrosion.md §1, and
 * §1.8: what Corrosion's own clients rely on) against Patina, over a real port, with HTTP/1.1
 * and with h2c (HTTP/2 prior knowledge, Corrosion's client's only transport): same statuses,
 * same shapes, same error bodies (Patina adds a `code` key to JSON error bodies, which Corrosion
 * clients ignore).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ndjson } from './helpers.js'
import { PROTOCOLS, serveApi, type ServedApi } from './transports.js'

const SCHEMA = `CREATE TABLE sandwiches (id INTEGER PRIMARY KEY, sandwich TEXT);
CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE tests (id INTEGER NOT NULL PRIMARY KEY, text TEXT);
CREATE TABLE a (pk TEXT NOT NULL PRIMARY KEY, n INTEGER);
CREATE TABLE k (id TEXT NOT NULL PRIMARY KEY, v TEXT, x);`

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

describe.each(PROTOCOLS)('over %s', (proto) => {
  let s: ServedApi
  beforeEach(async () => {
    s = await serveApi(proto, {}, SCHEMA)
  })
  afterEach(async () => {
    await s.close()
  })
  const post = (url: string, body: unknown) => s.post(url, body)
  const rows = async (sql: unknown) =>
    ndjson((await post('/v1/queries', sql)).body)
      .filter((e) => 'row' in e)
      .map((e) => (e['row'] as [number, unknown[]])[1])

  describe('§1.1 statement forms', () => {
    it('accepts the five forms and named keys with their prefix', async () => {
      const res = await post('/v1/transactions', [
        "INSERT INTO t (id, v) VALUES (0, 's')",
        ['INSERT INTO t (id, v) VALUES (?, ?)', [1, 'x']],
        ['UPDATE t SET v = :v WHERE id = :id', { ':id': 1, ':v': 'y' }],
        { query: 'INSERT INTO t (id, v) VALUES (?, ?)', params: [2, 'z'] },
        { query: 'UPDATE t SET v = :v WHERE id = :id', named_params: { ':id': 2, ':v': 'w' } },
      ])
      expect(res.status).toBe(200)
      expect(res.json()['results']).toHaveLength(5)
    })
  })

  describe('§1.2 POST /v1/transactions', () => {
    it('success: {"results":[{"rows_affected":1,"time":…}],"time":…,"version":N,"actor_id":"…"}', async () => {
      const res = await post('/v1/transactions', [
        "INSERT INTO sandwiches (id, sandwich) VALUES (1, 'burger')",
      ])
      expect(res.status).toBe(200)
      expect(Object.keys(res.json())).toEqual(['results', 'time', 'version', 'actor_id'])
      expect(res.json()).toEqual({
        results: [{ rows_affected: 1, time: expect.any(Number) }],
        time: expect.any(Number),
        version: 1,
        actor_id: s.api.env.engine.actorId,
      })
    })

    it('version is null when nothing changed (INSERT OR IGNORE on a duplicate key)', async () => {
      await post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (1, 'x')"])
      const res = await post('/v1/transactions', ["INSERT OR IGNORE INTO t (id, v) VALUES (1, 'x')"])
      expect(res.json()['version']).toBeNull()
    })

    it('empty array: 400 {"results":[{"error":"at least 1 statement is required"}],"time":0.0,"version":null,…}', async () => {
      const res = await post('/v1/transactions', [])
      expect(res.status).toBe(400)
      const { results, ...rest } = res.json() as { results: { error: string }[] }
      expect(results[0]?.error).toBe('at least 1 statement is required')
      expect(rest).toEqual({ time: 0, version: null, actor_id: s.api.env.engine.actorId })
    })

    it('SQL error: 500, whole batch rolled back, error in results, version null', async () => {
      const res = await post('/v1/transactions', [
        "INSERT INTO t (id, v) VALUES (5, 'x')",
        'INSERT INTO missing VALUES (1)',
      ])
      expect(res.status).toBe(500)
      expect(res.json()).toMatchObject({
        results: [{ error: expect.stringMatching(/missing/) }],
        time: 0,
        version: null,
      })
      expect(await rows('SELECT count(*) FROM t WHERE id = 5')).toEqual([[0]])
    })
  })

  describe('§1.3 POST /v1/queries', () => {
    it('NDJSON columns, row [rowid,[cells]] with 1-based ids, eoq{time} without change_id', async () => {
      await post('/v1/transactions', [
        "INSERT INTO sandwiches (id, sandwich) VALUES (1, 'burger'), (2, 'ham')",
      ])
      const res = await post('/v1/queries', 'SELECT id, sandwich FROM sandwiches ORDER BY id')
      expect(res.status).toBe(200)
      expect(res.headers['content-type']).toBe('application/x-ndjson')
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
      expect(res.status).toBe(400)
      expect(res.json().error).toBe('statement is not readonly')
    })

    it('prepare error: 400 {"error":"…"}', async () => {
      const res = await post('/v1/queries', 'SELECT nosuchfn(1)')
      expect(res.status).toBe(400)
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
      const sub = await s.conn.stream(
        'POST',
        '/v1/subscriptions?skip_rows=false',
        JSON.stringify('SELECT sandwich FROM sandwiches'),
      )
      expect(sub.headers['corro-query-id']).toMatch(UUID)
      expect(sub.headers['corro-query-hash']).toMatch(/^[0-9a-f]+$/)
      await sub.waitFor(4)
      await post('/v1/transactions', ["UPDATE sandwiches SET sandwich = 'smoked meat' WHERE id = 2"])
      await sub.waitFor(5)
      await post('/v1/transactions', ["INSERT INTO sandwiches (id, sandwich) VALUES (3, 'brie')"])
      await sub.waitFor(6)
      await post('/v1/transactions', ['DELETE FROM sandwiches WHERE id = 3'])
      await sub.waitFor(7)
      expect(sub.events).toEqual([
        { columns: ['sandwich'] },
        { row: [1, ['shiitake']] },
        { row: [2, ['ham']] },
        { eoq: { time: expect.any(Number), change_id: 0 } },
        { change: ['update', 2, ['smoked meat'], 1] },
        { change: ['insert', 3, ['brie'], 2] },
        { change: ['delete', 3, ['brie'], 3] },
      ])
      sub.abort()
    })

    it('from=N on GET replays only changes after N; skip_rows suppresses the snapshot', async () => {
      const sub = await s.conn.stream('POST', '/v1/subscriptions', JSON.stringify('SELECT id, v FROM t'))
      await sub.waitFor(2)
      for (let i = 1; i <= 3; i++)
        await post('/v1/transactions', [['INSERT INTO t (id, v) VALUES (?, ?)', [i, 'v']]])
      await sub.waitFor(5)
      const id = sub.headers['corro-query-id'] as string
      const r = await s.conn.stream('GET', `/v1/subscriptions/${id}?from=2`)
      await r.waitFor(1)
      expect(r.events).toEqual([{ change: ['insert', 3, [3, 'v'], 3] }])
      const k = await s.conn.stream('GET', `/v1/subscriptions/${id}?skip_rows=true`)
      await post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (4, 'v')"])
      await k.waitFor(1)
      expect(k.events).toEqual([{ change: ['insert', 4, [4, 'v'], 4] }])
      for (const x of [sub, r, k]) x.abort()
    })

    it('400 for from without a subscription, 404 for an unknown id, 400 for an unknown table', async () => {
      const from = await post('/v1/subscriptions?from=1', 'SELECT id FROM t')
      expect(from.status).toBe(400)
      expect(from.json().error).toBe('a `from` query param was supplied, but no existing subscription found')
      const id = '9a0e5a1d-2f4b-4a53-9d2c-0a3f6a0b1c2d'
      const get = await s.conn.request('GET', `/v1/subscriptions/${id}`)
      expect(get.status).toBe(404)
      expect(get.json().error).toBe(`could not find subscription with id ${id}`)
      const table = await post('/v1/subscriptions', 'SELECT * FROM nope')
      expect(table.status).toBe(400)
    })
  })

  describe('§1.5 POST /v1/updates/{table}', () => {
    it('streams notify update/delete with pk values, no snapshot', async () => {
      await post('/v1/transactions', ["INSERT INTO a (pk, n) VALUES ('pk0', 0)"])
      const sub = await s.conn.stream('POST', '/v1/updates/a')
      expect(sub.headers['corro-query-id']).toBeDefined()
      await post('/v1/transactions', ["INSERT INTO a (pk, n) VALUES ('pk1', 1)"])
      await post('/v1/transactions', ["DELETE FROM a WHERE pk = 'pk1'"])
      await sub.waitFor(2)
      expect(sub.events).toEqual([{ notify: ['update', ['pk1']] }, { notify: ['delete', ['pk1']] }])
      sub.abort()
      expect((await post('/v1/updates/nope', undefined)).status).toBe(400)
    })
  })

  describe('§1.6 POST /v1/table_stats', () => {
    it('{"tables":["a","b"]} -> {"total_row_count":N,"invalid_tables":["b"]}', async () => {
      await post('/v1/transactions', ["INSERT INTO a (pk, n) VALUES ('x', 1), ('y', 2)"])
      const res = await post('/v1/table_stats', { tables: ['a', 'b'] })
      expect(res.status).toBe(200)
      expect(res.json()).toEqual({ total_row_count: 2, invalid_tables: ['b'] })
    })
  })

  describe('§1.7 GET /v1/health', () => {
    it('{"response":{"gaps":0,"members":N,"p99_lag":…,"queue_size":0}} and the failure status', async () => {
      s.api.health = { queueSize: 0, p99LagSec: 0.21 }
      const ok = await s.conn.request('GET', '/v1/health')
      expect(ok.status).toBe(200)
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
          heads: {},
        },
      })
      const bad = await s.conn.request('GET', '/v1/health?p99_lag=0.1&failure_status=418')
      expect(bad.status).toBe(418)
    })
  })

  describe('§1.8 what Corrosion’s clients rely on', () => {
    /** POSTs a body written by hand (JSON.stringify cannot write 64-bit integers or `5.0`). */
    const postRaw = (url: string, text: string) =>
      s.conn.request('POST', url, text, { 'content-type': 'application/json' })

    it('binds parameters as SqliteParam: null, bool as INTEGER 0/1, i64 exact over the whole range, f64 as REAL, text, blob', async () => {
      const res = await postRaw(
        '/v1/queries',
        '["SELECT typeof(?), typeof(?), typeof(?), CAST(? AS TEXT), typeof(?), CAST(? AS TEXT), typeof(?), ? / 2, typeof(?), ? / 2, typeof(?), typeof(?), hex(?)",' +
          ' [null, true, 9223372036854775807, 9223372036854775807, -9223372036854775808, -9223372036854775808, 5, 5, 5.0, 5.0, "x", [1, 255], [1, 255]]]',
      )
      expect(res.status).toBe(200)
      expect(ndjson(res.body)[1]).toEqual({
        row: [
          1,
          [
            'null',
            'integer',
            'integer',
            '9223372036854775807',
            'integer',
            '-9223372036854775808',
            'integer',
            2,
            'real',
            2.5,
            'text',
            'blob',
            '01FF',
          ],
        ],
      })
    })

    it('a JSON integer written into a TEXT column is stored as its digits ("42", not "42.0")', async () => {
      await postRaw('/v1/transactions', '[["INSERT INTO k (id, v) VALUES (?, ?)", [42, 7]]]')
      expect(await rows(["SELECT id, v FROM k WHERE id = '42'", []])).toEqual([['42', '7']])
    })

    it('writes integers exactly, also beyond 2^53', async () => {
      const res = await post('/v1/queries', 'SELECT 9223372036854775807, -9007199254740993, 42')
      expect(res.body.split('\n')[1]).toBe('{"row":[1,[9223372036854775807,-9007199254740993,42]]}')
    })

    it('binds numbered parameters ?1, ?NNN by position in transactions and queries; a mismatch is a 400 saying what was expected', async () => {
      await post('/v1/transactions', [['INSERT INTO tests (id, text) VALUES (?1, ?2)', [1, 'a']]])
      const upd = await post('/v1/transactions', [['update tests set text = ?2 where id = ?1', [1, 'b']]])
      expect(upd.status).toBe(200)
      expect(await rows(['SELECT ?2, text FROM tests WHERE id = ?1', [1, 'x']])).toEqual([['x', 'b']])
      const bad = await post('/v1/transactions', [['update tests set text = ?2 where id = ?1', [1]]])
      expect(bad.status).toBe(400)
      expect(bad.json()['results']).toEqual([
        {
          error: 'the statement has 2 parameters (?1, ?2) but 1 value was given',
          code: 'PATINA_ERR_PARAM_INVALID',
        },
      ])
      const badQuery = await post('/v1/queries', ['SELECT ?1, ?2', ['only one']])
      expect(badQuery.status).toBe(400)
      expect(badQuery.json().error).toBe('the statement has 2 parameters (?1, ?2) but 1 value was given')
    })

    it('writes an integral REAL with its fraction (2.0) and an INTEGER without, in queries and subscriptions', async () => {
      const res = await post('/v1/queries', 'SELECT 2.0, 2, -0.0, 1e20, 0.5, CAST(7 AS REAL)')
      expect(res.body.split('\n')[1]).toBe('{"row":[1,[2.0,2,-0.0,1e+20,0.5,7.0]]}')
      await postRaw(
        '/v1/transactions',
        '[["INSERT INTO k (id, v, x) VALUES (?, ?, ?)", ["r", "real", 3.0]], ["INSERT INTO k (id, v, x) VALUES (?, ?, ?)", ["i", "int", 3]]]',
      )
      const sub = await s.conn.stream(
        'POST',
        '/v1/subscriptions',
        JSON.stringify('SELECT id, x, typeof(x) FROM k ORDER BY id'),
        {
          'content-type': 'application/json',
        },
      )
      await sub.waitFor(4)
      await postRaw('/v1/transactions', '[["UPDATE k SET x = ? WHERE id = ?", [4.0, "r"]]]')
      await sub.waitFor(5)
      expect(sub.raw.slice(1, 3)).toEqual(['{"row":[1,["i",3,"integer"]]}', '{"row":[2,["r",3.0,"real"]]}'])
      expect(sub.raw[4]).toBe('{"change":["update",2,["r",4.0,"real"],1]}')
      sub.abort()
      const raw = await post('/v1/queries', "SELECT x FROM k WHERE id = 'r'")
      expect(raw.body.split('\n')[1]).toBe('{"row":[1,[4.0]]}')
    })

    it('421 when x-corrosion-requested-endpoint-name names another endpoint; no header passes; then the bearer check', async () => {
      await s.close()
      s = await serveApi(
        proto,
        { endpointName: 'corrosion-iad-1', tokens: [{ token: 's3cret-token', role: 'write' }] },
        SCHEMA,
      )
      const auth = { authorization: 'Bearer s3cret-token' }
      const other = await s.conn.request('GET', '/v1/health', undefined, {
        'x-corrosion-requested-endpoint-name': 'corrosion-ord-2',
      })
      expect(other.status).toBe(421)
      expect(other.json()).toEqual({
        error: expect.stringMatching(/corrosion-iad-1/),
        code: 'PATINA_ERR_MISDIRECTED',
      })
      const same = await s.conn.request('GET', '/v1/health', undefined, {
        'x-corrosion-requested-endpoint-name': 'corrosion-iad-1',
        ...auth,
      })
      expect(same.status).toBe(200)
      const none = await s.conn.request('GET', '/v1/health', undefined, auth)
      expect(none.status).toBe(200)
      const noToken = await s.conn.request('GET', '/v1/health', undefined, {
        'x-corrosion-requested-endpoint-name': 'corrosion-iad-1',
      })
      expect(noToken.status).toBe(401)
      expect(noToken.body).toBe('')
    })

    it('subscriptions: POST ?skip_rows=false, UUID id, re-GET ?from=<last> resumes without a gap', async () => {
      await post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (1, 'a')"])
      const sub = await s.conn.stream(
        'POST',
        '/v1/subscriptions?skip_rows=false',
        JSON.stringify('SELECT id, v FROM t'),
      )
      const id = sub.headers['corro-query-id'] as string
      expect(id).toMatch(UUID)
      await sub.waitFor(3)
      await post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (2, 'b')"])
      await sub.waitFor(4)
      sub.abort() // an IO error: the client re-GETs from its last change id
      await post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (3, 'c')"])
      await post('/v1/transactions', ["UPDATE t SET v = 'A' WHERE id = 1"])
      const again = await s.conn.stream('GET', `/v1/subscriptions/${id}?skip_rows=false&from=1`)
      await again.waitFor(2)
      expect(again.events).toEqual([
        { change: ['insert', 3, [3, 'c'], 2] },
        { change: ['update', 1, [1, 'A'], 3] },
      ])
      again.abort()
    })

    it('from=N ahead of the log replays nothing and keeps the stream open for the next change', async () => {
      const sub = await s.conn.stream(
        'POST',
        '/v1/subscriptions?skip_rows=false',
        JSON.stringify('SELECT id, v FROM t'),
      )
      await sub.waitFor(2)
      await post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (1, 'a')"])
      await sub.waitFor(3)
      const id = sub.headers['corro-query-id'] as string
      const ahead = await s.conn.stream('GET', `/v1/subscriptions/${id}?skip_rows=true&from=50`)
      await post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (2, 'b')"])
      await ahead.waitFor(1)
      expect(ahead.events).toEqual([{ change: ['insert', 2, [2, 'b'], 2] }])
      for (const x of [sub, ahead]) x.abort()
    })

    it('a re-attach snapshot lists rows in row-id order; an update keeps its row id and place', async () => {
      await post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (3, 'c'), (1, 'a'), (2, 'b')"])
      const sub = await s.conn.stream(
        'POST',
        '/v1/subscriptions?skip_rows=false',
        JSON.stringify('SELECT id, v FROM t'),
      )
      await sub.waitFor(5)
      const first = sub.events.filter((e) => 'row' in e)
      await post('/v1/transactions', ["UPDATE t SET v = 'A' WHERE id = 1"])
      await sub.waitFor(6)
      const updated = sub.events[5] as { change: [string, number, unknown[], number] }
      expect(updated.change[0]).toBe('update')
      const rowidOf1 = (first.find((e) => (e['row'] as [number, unknown[]])[1][0] === 1) as { row: [number] })
        .row[0]
      expect(updated.change[1]).toBe(rowidOf1)
      sub.abort()
      const again = await s.conn.stream('GET', `/v1/subscriptions/${sub.headers['corro-query-id'] as string}`)
      await again.waitFor(5)
      const snapshot = again.events.filter((e) => 'row' in e).map((e) => e['row'] as [number, unknown[]])
      expect(snapshot.map(([rowid]) => rowid)).toEqual(
        [...snapshot.map(([rowid]) => rowid)].sort((a, b) => a - b),
      )
      expect(snapshot.find(([rowid]) => rowid === rowidOf1)?.[1]).toEqual([1, 'A'])
      expect(snapshot.map(([, cells]) => cells)).toHaveLength(3)
      again.abort()
    })

    it("answers cr-sqlite's names read-only: crsql_site_id (ordinal 0), crsql_db_version()", async () => {
      await post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (1, 'a')"])
      const hex = s.api.env.engine.actorId.replace(/-/g, '').toUpperCase()
      expect(await rows('SELECT hex(site_id) FROM crsql_site_id WHERE ordinal = 0')).toEqual([[hex]])
      expect(await rows('SELECT crsql_db_version()')).toEqual([[1]])
      const write = await post('/v1/transactions', ['DELETE FROM crsql_site_id'])
      expect(write.status).toBeGreaterThanOrEqual(400)
    })

    it('/v1/migrations no longer exists: 404 with the error shape', async () => {
      const res = await post('/v1/migrations', ['CREATE TABLE x (id INTEGER PRIMARY KEY)'])
      expect(res.status).toBe(404)
      expect(res.json()).toEqual({ error: expect.any(String), code: 'PATINA_ERR_NOT_FOUND' })
    })
  })

  describe('bad input: a 4xx with the error shape, never a 500 or a dropped connection', () => {
    const deep = '['.repeat(50_000) + ']'.repeat(50_000)
    it.each(['/v1/queries', '/v1/subscriptions', '/v1/transactions', '/v1/table_stats'])(
      '%s: 50,000 nested arrays, malformed JSON, a wrong shape',
      async (url) => {
        for (const body of [
          deep,
          `["SELECT ?", ${deep}]`,
          '{"query": "SELECT 1"',
          '["SELECT 1", [1, 2]',
          '42',
          '{"query": 5}',
        ]) {
          const res = await s.conn.request('POST', url, body, { 'content-type': 'application/json' })
          expect(res.status, body.slice(0, 30)).toBeGreaterThanOrEqual(400)
          expect(res.status, body.slice(0, 30)).toBeLessThan(500)
          const j = res.json() as { error?: string; results?: { error: string }[] }
          expect(j.error ?? j.results?.[0]?.error, body.slice(0, 30)).toEqual(expect.any(String))
        }
        // The connection still serves.
        expect((await s.conn.request('GET', '/v1/health')).status).toBe(200)
      },
    )
  })
})
