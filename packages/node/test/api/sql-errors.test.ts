import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { exec, makeApi, ndjson, type TestApi } from './helpers.js'

/**
 * SQL failures reach the HTTP layer as typed errors from the engine (core translates its
 * driver's errors); these pin the answers Corrosion gives for them: 500 for the request's own
 * SQL on transactions and queries, an error event once a query stream has begun, 400 for a
 * subscription query.
 */

let api: TestApi
beforeEach(async () => {
  api = await makeApi()
})
afterEach(async () => {
  await api.close()
})

const post = (url: string, payload: unknown) =>
  api.app.inject({
    method: 'POST',
    url,
    payload: JSON.stringify(payload),
    headers: { 'content-type': 'application/json' },
  })

const OVERFLOW = 'abs(-9223372036854775807 - 1)'

describe('SQL errors over HTTP', () => {
  it.each([
    [
      'a missing named value',
      ['INSERT INTO users (id, name) VALUES (:id, :name)', { ':id': 1 }],
      'Missing named parameter "name"',
    ],
    ['a failing step', `INSERT INTO users (id, name) VALUES (1, ${OVERFLOW})`, 'integer overflow'],
  ])('transactions: %s answers 500 PATINA_ERR_SQL in the results', async (_, stmt, message) => {
    const res = await post('/v1/transactions', [stmt])
    expect(res.statusCode).toBe(500)
    const body = res.json() as { results: unknown[]; version: unknown }
    expect(body.results).toEqual([
      {
        error: expect.stringMatching(new RegExp(`${message.replace(/[()"]/g, '.')}$`)),
        code: 'PATINA_ERR_SQL',
      },
    ])
    expect(body.version).toBeNull()
  })

  it('a parameter count that does not match is 400 PATINA_ERR_PARAM_INVALID saying what was expected', async () => {
    const tx = await post('/v1/transactions', [['INSERT INTO users (id, name) VALUES (?, ?)', [1]]])
    expect(tx.statusCode).toBe(400)
    expect((tx.json() as { results: unknown[] }).results).toEqual([
      { error: 'the statement has 2 parameters but 1 value was given', code: 'PATINA_ERR_PARAM_INVALID' },
    ])
    const q = await post('/v1/queries', ['SELECT * FROM users WHERE id = ?', [1, 2]])
    expect([q.statusCode, q.json()]).toEqual([
      400,
      { error: 'the statement has 1 parameter but 2 values were given', code: 'PATINA_ERR_PARAM_INVALID' },
    ])
  })

  it('queries: a first row that fails answers 500 PATINA_ERR_SQL', async () => {
    const step = await post('/v1/queries', `SELECT ${OVERFLOW}`)
    expect([step.statusCode, step.json()]).toEqual([
      500,
      { error: 'integer overflow', code: 'PATINA_ERR_SQL' },
    ])
  })

  it('queries: a row that fails after the stream began ends it with an error event', async () => {
    await exec(api, [
      `INSERT INTO users (id, name, team) VALUES (1, 'a', 1), (2, 'b', -9223372036854775807 - 1)`,
    ])
    const res = await post('/v1/queries', 'SELECT id, abs(team) FROM users ORDER BY id')
    expect(res.statusCode).toBe(200)
    expect(ndjson(res.body)).toEqual([
      { columns: ['id', 'abs(team)'] },
      { row: [1, [1, 1]] },
      { error: 'integer overflow' },
    ])
  })

  it('subscriptions: a query that fails on its rows answers 400 PATINA_ERR_STATEMENT_INVALID', async () => {
    await exec(api, [`INSERT INTO users (id, name, team) VALUES (2, 'b', -9223372036854775807 - 1)`])
    const res = await post('/v1/subscriptions', 'SELECT id, abs(team) AS t FROM users')
    expect([res.statusCode, res.json()]).toEqual([
      400,
      { error: 'integer overflow', code: 'PATINA_ERR_STATEMENT_INVALID' },
    ])
  })
})
