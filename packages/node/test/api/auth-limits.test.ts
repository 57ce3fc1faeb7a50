import { afterEach, describe, expect, it } from 'vitest'
import { exec, makeApi, type TestApi } from './helpers.js'

let api: TestApi | undefined
afterEach(async () => {
  await api?.close()
  api = undefined
})

const json = (payload: unknown, token?: string) => ({
  payload: JSON.stringify(payload),
  headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
})

describe('auth', () => {
  it('is open without tokens', async () => {
    api = await makeApi()
    const res = await api.app.inject({ method: 'POST', url: '/v1/transactions', ...json(['SELECT 1']) })
    expect(res.statusCode).toBe(200)
  })

  it('answers 401 with an empty body without a valid token, 403 for a read token that writes', async () => {
    api = await makeApi({
      tokens: [
        { token: 'reader', role: 'read' },
        { token: 'writer', role: 'write' },
      ],
    })
    const none = await api.app.inject({ method: 'POST', url: '/v1/queries', ...json('SELECT 1') })
    expect(none.statusCode).toBe(401)
    expect(none.body).toBe('')
    const wrong = await api.app.inject({
      method: 'GET',
      url: '/v1/health',
      headers: { authorization: 'Bearer nope' },
    })
    expect(wrong.statusCode).toBe(401)
    expect(wrong.body).toBe('')
    const read = await api.app.inject({ method: 'POST', url: '/v1/queries', ...json('SELECT 1', 'reader') })
    expect(read.statusCode).toBe(200)
    const forbidden = await api.app.inject({
      method: 'POST',
      url: '/v1/transactions',
      ...json(['INSERT INTO users (id) VALUES (1)'], 'reader'),
    })
    expect(forbidden.statusCode).toBe(403)
    expect(forbidden.json()).toEqual({
      error: expect.stringMatching(/read-only token/),
      code: 'PATINA_ERR_FORBIDDEN',
    })
    const write = await api.app.inject({
      method: 'POST',
      url: '/v1/transactions',
      ...json(['INSERT INTO users (id) VALUES (1)'], 'writer'),
    })
    expect(write.statusCode).toBe(200)
    const stats = await api.app.inject({
      method: 'POST',
      url: '/v1/table_stats',
      ...json({ tables: ['users'] }, 'reader'),
    })
    expect(stats.json()).toEqual({ total_row_count: 1, invalid_tables: [] })
  })

  it('refuses invalid token configuration', async () => {
    await expect(makeApi({ tokens: [{ token: '', role: 'read' }] })).rejects.toThrow(/api.tokens\[0\].token/)
  })
})

describe('limits', () => {
  it('answers 503 max concurrency limit reached above a route limit, then serves again', async () => {
    api = await makeApi({ concurrency: { queries: 1 } })
    const a = api
    const actor = a.env.engine.actorId
    const held = a.app.inject({
      method: 'POST',
      url: `/v1/queries?wait_actor=${actor}&wait_version=1&wait_timeout_ms=10000`,
      ...json('SELECT 1'),
    })
    await new Promise((r) => setImmediate(r))
    const refused = await a.app.inject({ method: 'POST', url: '/v1/queries', ...json('SELECT 1') })
    expect(refused.statusCode).toBe(503)
    expect(refused.body).toBe('max concurrency limit reached')
    // Other routes have their own limit.
    expect(
      (await a.app.inject({ method: 'POST', url: '/v1/table_stats', ...json({ tables: [] }) })).statusCode,
    ).toBe(200)
    await exec(a, ['INSERT INTO users (id) VALUES (1)'])
    expect((await held).statusCode).toBe(200)
    expect((await a.app.inject({ method: 'POST', url: '/v1/queries', ...json('SELECT 1') })).statusCode).toBe(
      200,
    )
  })

  it('refuses oversized bodies with 413 and keeps serving', async () => {
    api = await makeApi({ bodyLimitBytes: 200 })
    const big = await api.app.inject({
      method: 'POST',
      url: '/v1/queries',
      ...json(`SELECT '${'x'.repeat(500)}'`),
    })
    expect(big.statusCode).toBe(413)
    expect(big.json().code).toBe('PATINA_ERR_BODY_TOO_LARGE')
    expect(
      (await api.app.inject({ method: 'POST', url: '/v1/queries', ...json('SELECT 1') })).statusCode,
    ).toBe(200)
  })

  it('refuses more statements than allowed per transaction', async () => {
    api = await makeApi({ maxStatementsPerTransaction: 2 })
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/transactions',
      ...json(['SELECT 1', 'SELECT 2', 'SELECT 3']),
    })
    expect(res.statusCode).toBe(400)
    expect(res.json().results[0]).toEqual({
      error: 'request has 3 statements; api.maxStatementsPerTransaction allows 2',
      code: 'PATINA_ERR_TOO_MANY_STATEMENTS',
    })
  })

  it('accepts a JSON body sent with another content type (curl -d)', async () => {
    api = await makeApi()
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/queries',
      payload: '"SELECT 1"',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(res.statusCode).toBe(200)
  })
})
