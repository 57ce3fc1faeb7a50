/**
 * Issue 21 item 1 and issue 12 item 8: a runaway statement on `/v1/queries`, `/v1/transactions`
 * and in a subscription is stopped inside SQLite at its deadline — the request's `timeout`, or
 * a server limit when it gives none — with an answer naming the limit, and the node keeps
 * answering health meanwhile (queries run on read threads) and after.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { makeApi, ndjson, type TestApi } from './helpers.js'

const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c'
const RUNAWAY_WRITE =
  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) INSERT INTO users (id, name) SELECT x, 'n' FROM c WHERE x % 1000000000 = 7"

let api: TestApi | undefined
afterEach(async () => {
  await api?.close()
  api = undefined
})

const post = (a: TestApi, url: string, body: unknown) =>
  a.app.inject({
    method: 'POST',
    url,
    payload: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  })
const health = (a: TestApi) => a.app.inject({ method: 'GET', url: '/v1/health' })
const errorOf = (body: string): string => {
  const first = ndjson(body.endsWith('\n') ? body : `${body}\n`)[0] as { error?: string } | undefined
  return String(first?.error ?? '')
}
async function interrupts(a: TestApi, kind: string): Promise<number> {
  const m = (await a.registry.getSingleMetric('patina_statement_interrupts_total')?.get())?.values ?? []
  return m.filter((v) => v.labels['kind'] === kind).reduce((s, v) => s + v.value, 0)
}

describe('runaway statements are stopped at their deadline', () => {
  it('/v1/queries?timeout=N: stopped with 408 naming the timeout; health answers while it runs', async () => {
    api = await makeApi()
    let settled = false
    const q = post(api, '/v1/queries?timeout=3', RUNAWAY).then((r) => {
      settled = true
      return r
    })
    // The statement runs on a read thread: the main thread answers health before it ends.
    const h = await health(api)
    expect(h.statusCode).toBe(200)
    expect(settled).toBe(false)
    const r = await q
    expect(r.statusCode).toBe(408)
    expect(r.json()).toMatchObject({
      error: expect.stringMatching(/deadline of 3000 ms, the request's timeout=3/),
    })
    expect(await interrupts(api, 'query')).toBe(1)
    expect((await health(api)).statusCode).toBe(200)
  })

  it('/v1/queries without timeout: the server default (api.limits.query_timeout_secs) stops it', async () => {
    api = await makeApi({ defaultQueryTimeoutSec: 1 })
    const r = await post(api, '/v1/queries', RUNAWAY)
    expect(r.statusCode).toBe(408)
    expect(r.body).toMatch(/api\.limits\.query_timeout_secs/)
  })

  it('/v1/queries with a timeout above the maximum is cut to api.limits.timeout_max_secs', async () => {
    api = await makeApi({ maxTimeoutSec: 1 })
    const r = await post(api, '/v1/queries?timeout=86400', RUNAWAY)
    expect(r.statusCode).toBe(408)
    expect(r.body).toMatch(/api\.limits\.timeout_max_secs/)
  })

  it('/v1/transactions?timeout=N: a runaway write is stopped, rolled back, answered 408', async () => {
    api = await makeApi({ mainThreadMaxMs: 60_000 })
    const r = await post(api, '/v1/transactions?timeout=1', [RUNAWAY_WRITE])
    expect(r.statusCode).toBe(408)
    // Corrosion's shape: the error is in `results`
    expect(r.json()).toMatchObject({
      results: [
        {
          code: 'PATINA_ERR_TIMEOUT',
          error: expect.stringMatching(/timeout=1; nothing was written \(the transaction was rolled back\)/),
        },
      ],
      version: null,
    })
    expect([...api.env.engine.query('SELECT count(*) FROM users').rows]).toEqual([[0]])
    expect(await interrupts(api, 'transaction')).toBe(1)
    expect((await health(api)).statusCode).toBe(200)
    // ...and the node still writes
    const ok = await post(api, '/v1/transactions', [["INSERT INTO users (id, name) VALUES (1, 'a')", []]])
    expect(ok.statusCode).toBe(200)
    expect(ok.json()).toMatchObject({ version: 1 })
  })

  it('/v1/transactions without timeout: api.limits.main_thread_max_ms stops it (a read-only runaway too)', async () => {
    api = await makeApi({ mainThreadMaxMs: 200 })
    for (const sql of [RUNAWAY_WRITE, RUNAWAY]) {
      const r = await post(api, '/v1/transactions', [sql])
      expect(r.statusCode, sql).toBe(408)
      expect(r.body).toMatch(/api\.limits\.main_thread_max_ms.*split it into smaller transactions/)
    }
    // a larger timeout cannot lift the main-thread bound
    const r = await post(api, '/v1/transactions?timeout=3600', [RUNAWAY])
    expect(r.statusCode).toBe(408)
    expect(r.body).toMatch(/deadline of 200 ms/)
    expect((await health(api)).statusCode).toBe(200)
  })

  it('a subscription whose statement runs away is refused with 408 naming the limit', async () => {
    api = await makeApi({}, { statementMaxMs: 200 })
    api.env.engine.transaction([{ sql: "INSERT INTO users (id, name) VALUES (1, 'a')" }])
    const r = await post(api, '/v1/subscriptions', `SELECT id FROM users WHERE id < (${RUNAWAY})`)
    expect(r.statusCode).toBe(408)
    expect(errorOf(r.body)).toMatch(
      /subscription statement stopped at its deadline of 200 ms.*main_thread_max_ms/,
    )
    expect(await interrupts(api, 'subscription')).toBe(1)
    expect((await health(api)).statusCode).toBe(200)
  })

  it('a subscription whose maintenance runs away after a change is stopped and ends with the error', async () => {
    api = await makeApi({}, { statementMaxMs: 200 })
    const a = api
    // Only a row named 'loop' makes the condition run away; there is none at first.
    const sql = `SELECT id, name FROM users WHERE name != 'loop' OR (${RUNAWAY}) > 0`
    const { info } = a.hub.upsert({ sql })
    expect(info.failed).toBeNull()
    a.env.engine.transaction([{ sql: "INSERT INTO users (id, name) VALUES (2, 'loop')" }])
    for (let i = 0; a.hub.get(info.id)?.failed == null; i++) {
      if (i > 600) throw new Error('the subscription was never stopped')
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(a.hub.get(info.id)?.failed).toMatch(/stopped at its deadline of 200 ms/)
    expect(await interrupts(a, 'subscription')).toBe(1)
    expect((await health(a)).statusCode).toBe(200)
  })
})
