import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { exec, makeApi, ndjson, openStream, type TestApi } from './helpers.js'

let api: TestApi
beforeEach(async () => {
  api = await makeApi()
})
afterEach(async () => {
  await api.close()
})

/** POSTs `payload` as JSON (strings too: a bare SQL string is a JSON string). */
const post = (url: string, payload?: unknown) =>
  api.app.inject({
    method: 'POST',
    url,
    ...(payload !== undefined
      ? { payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } }
      : {}),
  })
/** POSTs a raw body. */
const postRaw = (url: string, body: string, headers: Record<string, string> = {}) =>
  api.app.inject({ method: 'POST', url, payload: body, headers })

describe('POST /v1/transactions', () => {
  it('runs every statement form in one transaction and answers like Corrosion', async () => {
    const res = await post('/v1/transactions', [
      "INSERT INTO users (id, name) VALUES (1, 'a')",
      ['INSERT INTO users (id, name) VALUES (?, ?)', [2, 'b']],
      ['INSERT INTO users (id, name) VALUES (:id, :name)', { ':id': 3, ':name': 'c' }],
      { query: 'INSERT INTO users (id, name) VALUES (?, ?)', params: [4, 'd'] },
      { query: 'INSERT INTO users (id, name) VALUES ($id, @name)', named_params: { $id: 5, '@name': 'e' } },
    ])
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body).toEqual({
      results: Array.from({ length: 5 }, () => ({ rows_affected: 1, time: expect.any(Number) })),
      time: expect.any(Number),
      version: 1,
      actor_id: api.env.engine.actorId,
    })
    const rows = await post('/v1/queries', 'SELECT id, name FROM users ORDER BY id')
    expect(ndjson(rows.body).filter((e) => 'row' in e)).toHaveLength(5)
  })

  it('binds JSON params as Corrosion: null, bool, int, float, text, blob, other JSON as text', async () => {
    await exec(api, [
      [
        'INSERT INTO users (id, name, team, score, data) VALUES (?, ?, ?, ?, ?)',
        [1, 'x', true, 1.5, [0, 1, 255]],
      ],
      [
        'INSERT INTO users (id, name, team, score, data) VALUES (?, ?, ?, ?, ?)',
        [2, { a: 1 }, false, null, [1, 'x']],
      ],
    ])
    const res = await post('/v1/queries', 'SELECT id, name, team, score, data FROM users ORDER BY id')
    expect(ndjson(res.body).filter((e) => 'row' in e)).toEqual([
      { row: [1, [1, 'x', 1, 1.5, [0, 1, 255]]] },
      { row: [2, [2, '{"a":1}', 0, null, '[1,"x"]']] },
    ])
  })

  it('returns version null when nothing changed', async () => {
    await exec(api, ["INSERT INTO users (id, name) VALUES (1, 'a')"])
    const res = await post('/v1/transactions', ["INSERT OR IGNORE INTO users (id, name) VALUES (1, 'a')"])
    expect(res.statusCode).toBe(200)
    expect(res.json().version).toBeNull()
  })

  it('rejects an empty array with 400 and Corrosion’s body', async () => {
    const res = await post('/v1/transactions', [])
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({
      results: [{ error: 'at least 1 statement is required' }],
      time: 0,
      version: null,
      actor_id: api.env.engine.actorId,
    })
  })

  it('rolls back the whole batch on a SQL error (500) and keeps serving', async () => {
    const res = await post('/v1/transactions', [
      "INSERT INTO users (id, name) VALUES (1, 'a')",
      'INSERT INTO nope (x) VALUES (1)',
    ])
    expect(res.statusCode).toBeGreaterThanOrEqual(400)
    expect(res.json().results[0].error).toMatch(/nope/)
    expect(res.json().version).toBeNull()
    const q = await post('/v1/queries', 'SELECT count(*) FROM users')
    expect(ndjson(q.body)[1]).toEqual({ row: [1, [0]] })
  })

  it('refuses wrong statement shapes, malformed JSON and too many statements', async () => {
    for (const bad of [
      [1],
      [['SELECT 1']],
      [{ params: [] }],
      [['x', 1]],
      [{ query: 'x', params: [], named_params: {} }],
    ]) {
      const res = await post('/v1/transactions', bad)
      expect(res.statusCode).toBe(400)
      expect(res.json().results[0].code).toBe('PATINA_ERR_STATEMENT_INVALID')
    }
    const named = await post('/v1/transactions', [['SELECT :a', { a: 1 }]])
    expect(named.statusCode).toBe(400)
    expect(named.json().results[0].error).toMatch(/must start with ':', '@' or '\$'/)
    const malformed = await postRaw('/v1/transactions', '[ "SELECT 1" ', {
      'content-type': 'application/json',
    })
    expect(malformed.statusCode).toBe(400)
    expect(malformed.json().results[0].code).toBe('PATINA_ERR_BODY_INVALID')
    const notArray = await post('/v1/transactions', { query: 'SELECT 1' })
    expect(notArray.statusCode).toBe(400)
  })

  it('refuses writes to internal tables', async () => {
    const res = await post('/v1/transactions', ["INSERT INTO __patina_meta (key, value) VALUES ('x', 1)"])
    expect(res.statusCode).toBe(400)
    expect(res.json().results[0].error).toMatch(/__patina_meta/)
  })
})

describe('POST /v1/queries', () => {
  it('streams columns, rows with 1-based row ids, eoq as NDJSON', async () => {
    await exec(api, ["INSERT INTO users (id, name) VALUES (1, 'burger'), (2, 'ham')"])
    const res = await post('/v1/queries', [
      'SELECT id, name AS sandwich FROM users WHERE id >= ? ORDER BY id',
      [1],
    ])
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/application\/x-ndjson/)
    expect(ndjson(res.body)).toEqual([
      { columns: ['id', 'sandwich'] },
      { row: [1, [1, 'burger']] },
      { row: [2, [2, 'ham']] },
      { eoq: { time: expect.any(Number) } },
    ])
  })

  it('refuses writes with 400 statement is not readonly', async () => {
    const res = await post('/v1/queries', "INSERT INTO users (id, name) VALUES (1, 'a')")
    expect(res.statusCode).toBe(400)
    expect(res.json().error).toMatch(/statement is not readonly/)
  })

  it('answers 400 for a prepare error (unknown table) and keeps serving', async () => {
    const res = await post('/v1/queries', 'SELECT * FROM nope')
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({
      error: expect.stringMatching(/no such table: nope/),
      code: 'PATINA_ERR_STATEMENT_INVALID',
    })
    const ok = await post('/v1/queries', 'SELECT 1 AS one')
    expect(ndjson(ok.body)[1]).toEqual({ row: [1, [1]] })
  })

  it('returns big integers as raw digits and blobs as byte arrays', async () => {
    const res = await post(
      '/v1/queries',
      "SELECT 9007199254740993 AS big, X'00ff' AS b, 1.25 AS r, NULL AS n",
    )
    expect(res.body.split('\n')[1]).toBe('{"row":[1,[9007199254740993,[0,255],1.25,null]]}')
  })

  it('validates timeout', async () => {
    const res = await post('/v1/queries?timeout=abc', 'SELECT 1')
    expect(res.statusCode).toBe(400)
    expect(res.json().error).toMatch(/timeout value "abc"/)
  })
})

describe('read-your-writes', () => {
  it('waits for a version already applied and times out on a missing one', async () => {
    const w = await exec(api, ["INSERT INTO users (id, name) VALUES (1, 'a')"])
    const ok = await post(
      `/v1/queries?wait_actor=${String(w['actor_id'])}&wait_version=${String(w['version'])}`,
      'SELECT count(*) FROM users',
    )
    expect(ok.statusCode).toBe(200)
    const late = await post(
      `/v1/queries?wait_actor=${String(w['actor_id'])}&wait_version=99&wait_timeout_ms=20`,
      'SELECT count(*) FROM users',
    )
    expect(late.statusCode).toBe(504)
    expect(late.json()).toEqual({
      error: expect.stringMatching(/versions 1\.\.99 of actor/),
      code: 'PATINA_ERR_WAIT_TIMEOUT',
    })
    const bad = await post('/v1/queries?wait_actor=x&wait_version=1', 'SELECT 1')
    expect(bad.statusCode).toBe(400)
  })

  it('is woken by the commit that applies the version', async () => {
    const actor = api.env.engine.actorId
    const pending = post(
      `/v1/queries?wait_actor=${actor}&wait_version=1&wait_timeout_ms=10000`,
      'SELECT count(*) FROM users',
    )
    await new Promise((r) => setImmediate(r))
    await exec(api, ["INSERT INTO users (id, name) VALUES (1, 'a')"])
    const res = await pending
    expect(res.statusCode).toBe(200)
    expect(ndjson(res.body)[1]).toEqual({ row: [1, [1]] })
  })
})

describe('subscriptions', () => {
  it('streams snapshot then changes with id and hash headers; GET by id shares it', async () => {
    await exec(api, ["INSERT INTO users (id, name) VALUES (1, 'shiitake'), (2, 'ham')"])
    const s = await openStream(api, {
      method: 'POST',
      url: '/v1/subscriptions',
      payload: 'SELECT name AS sandwich FROM users',
    })
    expect(s.status).toBe(200)
    const id = s.headers['corro-query-id'] as string
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
    expect(s.headers['corro-query-hash']).toMatch(/^[0-9a-f]+$/)
    expect(s.headers['patina-subscription-maintenance']).toBe('incremental')
    await s.waitFor(4)
    expect(s.events).toEqual([
      { columns: ['sandwich'] },
      { row: [1, ['shiitake']] },
      { row: [2, ['ham']] },
      { eoq: { time: expect.any(Number), change_id: 0 } },
    ])
    await exec(api, ["UPDATE users SET name = 'smoked meat' WHERE id = 2"])
    await s.waitFor(5)
    expect(s.events[4]).toEqual({ change: ['update', 2, ['smoked meat'], 1] })
    await exec(api, ["INSERT INTO users (id, name) VALUES (3, 'brie')"])
    await s.waitFor(6)
    await exec(api, ['DELETE FROM users WHERE id = 3'])
    await s.waitFor(7)
    expect(s.events.slice(5)).toEqual([
      { change: ['insert', 3, ['brie'], 2] },
      { change: ['delete', 3, ['brie'], 3] },
    ])
    const again = await openStream(api, {
      method: 'POST',
      url: '/v1/subscriptions',
      payload: 'SELECT name AS sandwich FROM users',
    })
    expect(again.headers['corro-query-id']).toBe(id)
    const byId = await openStream(api, { method: 'GET', url: `/v1/subscriptions/${id}?from=1` })
    await byId.waitFor(2)
    expect(byId.events).toEqual([
      { change: ['insert', 3, ['brie'], 2] },
      { change: ['delete', 3, ['brie'], 3] },
    ])
    const skip = await openStream(api, { method: 'GET', url: `/v1/subscriptions/${id}?skip_rows=true` })
    await exec(api, ["INSERT INTO users (id, name) VALUES (4, 'rye')"])
    await skip.waitFor(1)
    expect(skip.events[0]).toEqual({ change: ['insert', 4, ['rye'], 4] })
  })

  it('maintains an aggregate by re-running it and says so in a header', async () => {
    await exec(api, ["INSERT INTO users (id, name, team) VALUES (1, 'a', 1), (2, 'b', 1), (3, 'c', 2)"])
    const sql = 'SELECT team, count(*) AS n, total(id) AS ids FROM users GROUP BY team'
    const s = await openStream(api, { method: 'POST', url: '/v1/subscriptions', payload: sql })
    expect(s.headers['patina-subscription-maintenance']).toBe('rerun')
    await s.waitFor(4)
    expect(s.events.slice(0, 3)).toEqual([
      { columns: ['team', 'n', 'ids'] },
      { row: [1, [1, 2, 3]] },
      { row: [2, [2, 1, 3]] },
    ])
    await exec(api, ['UPDATE users SET team = 2 WHERE id = 1'])
    await s.waitFor(6)
    // Groups are identified by their GROUP BY column: a changed count is an update of its row.
    expect(s.events.slice(4)).toEqual([
      { change: ['update', 1, [1, 1, 2], 1] },
      { change: ['update', 2, [2, 2, 4], 2] },
    ])
  })

  it('keeps a stream resumed ahead of the log open and sends the next changes (as Corrosion)', async () => {
    const s = await openStream(api, {
      method: 'POST',
      url: '/v1/subscriptions',
      payload: 'SELECT id FROM users',
    })
    const id = s.headers['corro-query-id'] as string
    await s.waitFor(2)
    const ahead = await openStream(api, { method: 'GET', url: `/v1/subscriptions/${id}?from=7` })
    expect(ahead.status).toBe(200)
    await exec(api, ["INSERT INTO users (id, name) VALUES (1, 'a')"])
    await ahead.waitFor(1)
    expect(ahead.events).toEqual([{ change: ['insert', 1, [1], 1] }])
  })

  it('answers Corrosion’s errors: from without subscription, unknown id, refused query', async () => {
    const from = await post('/v1/subscriptions?from=3', 'SELECT id FROM users')
    expect(from.statusCode).toBe(400)
    expect(from.json().error).toBe('a `from` query param was supplied, but no existing subscription found')
    const unknown = await api.app.inject({
      method: 'GET',
      url: '/v1/subscriptions/00000000-0000-4000-8000-000000000000',
    })
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json().error).toBe(
      'could not find subscription with id 00000000-0000-4000-8000-000000000000',
    )
    const cases: [string, RegExp][] = [
      ['SELECT id, random() FROM users', /random\(\) is not deterministic/],
      ["SELECT id FROM users WHERE name < datetime('now')", /datetime\('now'\) depends on the current time/],
      ['SELECT name FROM sqlite_schema', /sqlite_schema is not a replicated table/],
      ['SELECT id FROM nope', /not a table of the schema/],
      ['INSERT INTO users (id) VALUES (1)', /INSERT statement/],
    ]
    for (const [sql, re] of cases) {
      const res = await post('/v1/subscriptions', sql)
      expect(res.statusCode, sql).toBe(400)
      expect(res.json().error, sql).toMatch(re)
    }
  })

  it('ends a slow consumer with an error event without slowing the others', async () => {
    await api.close()
    api = await makeApi({ maxStreamBufferBytes: 2048 })
    const sql = 'SELECT id, name FROM users'
    const fast = await openStream(api, { method: 'POST', url: '/v1/subscriptions', payload: sql })
    await fast.waitFor(2)
    // A sink nobody reads from: its buffer grows until the bound.
    const { createNdjsonSink } = await import('../../src/api/ndjson.js')
    const slow = createNdjsonSink({ maxBufferBytes: 2048 })
    const id = fast.headers['corro-query-id'] as string
    await api.hub.attach(id, slow, { skipRows: true })
    for (let i = 0; i < 40; i++)
      await exec(api, [['INSERT INTO users (id, name) VALUES (?, ?)', [i, 'x'.repeat(100)]]])
    await fast.waitFor(2 + 40)
    expect(slow.closed).toBe(true)
    const text = slow.stream.read()?.toString() as string
    expect(text.trim().split('\n').pop()).toMatch(/"error":"stream buffer exceeded 2048 bytes/)
  })
})

describe('POST /v1/updates/:table', () => {
  it('notifies primary keys of changed rows, deletes as delete', async () => {
    const s = await openStream(api, { method: 'POST', url: '/v1/updates/tags' })
    expect(s.status).toBe(200)
    expect(s.headers['corro-query-id']).toBeDefined()
    await exec(api, ["INSERT INTO tags (user_id, tag) VALUES (1, 'a')"])
    await exec(api, ["DELETE FROM tags WHERE user_id = 1 AND tag = 'a'"])
    await s.waitFor(2)
    expect(s.events).toEqual([{ notify: ['update', [1, 'a']] }, { notify: ['delete', [1, 'a']] }])
    const bad = await post('/v1/updates/nope')
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error).toMatch(/"nope"/)
  })
})

describe('other endpoints', () => {
  it('table_stats counts valid tables and lists invalid ones', async () => {
    await exec(api, [
      "INSERT INTO users (id, name) VALUES (1, 'a'), (2, 'b')",
      'INSERT INTO teams (id) VALUES (1)',
    ])
    const res = await post('/v1/table_stats', { tables: ['users', 'teams', 'nope'] })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ total_row_count: 3, invalid_tables: ['nope'] })
    expect((await post('/v1/table_stats', { tables: 'users' })).statusCode).toBe(400)
  })

  it('health shows versions refused on apply (held back, counted among the gaps)', async () => {
    const { createStateEngine } = await import('@patina/core')
    const other = createStateEngine({
      path: ':memory:',
      schema: 'CREATE TABLE elsewhere (id INTEGER PRIMARY KEY);',
    })
    const w = other.transaction([{ sql: 'INSERT INTO elsewhere VALUES (1)' }])
    other.close()
    expect(api.env.engine.apply(w.changesets).refused).toHaveLength(1)
    api.health = { queueSize: 0, p99LagSec: 0.1 }
    const res = await api.app.inject({ method: 'GET', url: '/v1/health' })
    expect(res.json()).toMatchObject({
      response: { gaps: 1, members: 1, p99_lag: 0.1, queue_size: 0, refused_versions: 1 },
    })
    expect((await api.app.inject({ method: 'GET', url: '/v1/health?gaps=0' })).statusCode).toBe(503)
  })

  it('health applies Corrosion’s thresholds', async () => {
    const get = (q = '') => api.app.inject({ method: 'GET', url: `/v1/health${q}` })
    api.health = { queueSize: 5, p99LagSec: 2 }
    let res = await get()
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ response: { gaps: 0, members: 1, p99_lag: 2, queue_size: 5 } })
    expect((await get('?max_queue=4')).statusCode).toBe(503)
    expect((await get('?p99_lag=1')).statusCode).toBe(503)
    expect((await get('?p99_lag=1&queue_size=10')).statusCode).toBe(200)
    expect((await get('?max_queue=4&failure_status=500')).statusCode).toBe(500)
    api.health = { queueSize: 0, p99LagSec: null }
    res = await get()
    expect(res.statusCode).toBe(503)
    expect(res.json()).toEqual({ error: 'no p99 lag information available' })
    expect((await get('?gaps=x')).statusCode).toBe(400)
  })

  it('health says how current the node is, and ?max_contact_ms= fails it when it is not', async () => {
    const get = (q = '') => api.app.inject({ method: 'GET', url: `/v1/health${q}` })
    api.health = { queueSize: 0, p99LagSec: 0, isolated: false, lastContactMs: 120, reachableMembers: 2 }
    let res = await get()
    expect(res.json()).toEqual({
      response: {
        gaps: 0,
        members: 1,
        p99_lag: 0,
        queue_size: 0,
        isolated: false,
        last_contact_ms: 120,
        reachable_members: 2,
        heads: {},
      },
    })
    expect((await get('?max_contact_ms=1000')).statusCode).toBe(200)
    expect((await get('?max_contact_ms=120')).statusCode).toBe(200)
    expect((await get('?max_contact_ms=119')).statusCode).toBe(503)
    expect((await get('?max_contact_ms=100&failure_status=500')).statusCode).toBe(500)
    // isolated, and never heard from anyone: current by no measure
    api.health = { queueSize: 0, p99LagSec: 0, isolated: true, lastContactMs: null, reachableMembers: 0 }
    res = await get()
    expect(res.statusCode).toBe(200) // the status rules stay Corrosion's without the parameter
    expect(res.json()).toMatchObject({
      response: { isolated: true, last_contact_ms: null, reachable_members: 0 },
    })
    expect((await get('?max_contact_ms=86400000')).statusCode).toBe(503)
    res = await get('?max_contact_ms=-1')
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ error: expect.stringContaining('max_contact_ms') })
    expect((await get('?max_contact_ms=1.5')).statusCode).toBe(400)
  })

  it('serves cluster members and Prometheus metrics', async () => {
    const m = await api.app.inject({ method: 'GET', url: '/v1/cluster/members' })
    expect(m.json()).toEqual({ members: api.members })
    await post('/v1/queries', 'SELECT 1')
    const metrics = await api.app.inject({ method: 'GET', url: '/metrics' })
    expect(metrics.statusCode).toBe(200)
    expect(metrics.headers['content-type']).toMatch(/text\/plain/)
    expect(metrics.body).toMatch(/patina_api_requests_total\{route="\/v1\/queries",status="200"\} 1/)
  })

  it('answers unknown routes with 404 JSON', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/v1/nope' })
    expect(res.statusCode).toBe(404)
    expect(res.json().code).toBe('PATINA_ERR_NOT_FOUND')
  })
})
