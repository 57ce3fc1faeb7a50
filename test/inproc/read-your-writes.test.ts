/**
 * Read-your-writes over real sockets: a query that asks for a version not yet applied waits
 * for it (and answers when it arrives), or fails with PATINA_ERR_WAIT_TIMEOUT.
 */
import { createStateEngine } from '@patina/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { queryRows, startCluster, TEST_SCHEMA, type TestCluster } from '../helpers/cluster.js'

describe('read-your-writes (wait_actor / wait_version)', () => {
  let c: TestCluster
  beforeAll(async () => {
    c = await startCluster(1)
  })
  afterAll(async () => {
    await c?.stop()
  })

  it('waits for a version that arrives later', async () => {
    const other = createStateEngine({ path: ':memory:', schema: TEST_SCHEMA })
    const w = other.transaction([{ sql: "INSERT INTO tests (id, text) VALUES (42, 'later')" }])
    const url = c.agents[0]!.apiUrl
    const pending = queryRows(
      url,
      'SELECT text FROM tests WHERE id = 42',
      `?wait_actor=${w.actorId}&wait_version=${w.version}&wait_timeout_ms=10000`,
    )
    await new Promise((r) => setTimeout(r, 300))
    c.agents[0]!.engine.apply(w.changesets)
    expect(await pending).toEqual([['later']])
    other.close()
  })

  it('waiting for version N waits for every earlier version of that actor too: no state that never existed', async () => {
    const other = createStateEngine({ path: ':memory:', schema: TEST_SCHEMA })
    const w1 = other.transaction([{ sql: "INSERT INTO routes (host, app) VALUES ('h7', 'shop')" }])
    const w2 = other.transaction([{ sql: "UPDATE routes SET backend = 'b2' WHERE host = 'h7'" }])
    const url = c.agents[0]!.apiUrl
    const wait = `?wait_actor=${w2.actorId}&wait_version=${w2.version}&wait_timeout_ms=300`
    const sql = "SELECT host, app, backend FROM routes WHERE host = 'h7'"
    // gossip delivered w2, w1 is still missing: the row would read ('h7', NULL, 'b2')
    c.agents[0]!.engine.apply(w2.changesets)
    const early = await fetch(`${url}/v1/queries${wait}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sql),
    })
    expect(early.status).toBe(504)
    expect(((await early.json()) as { error: string }).error).toMatch(/versions 1\.\.2 of actor/)
    c.agents[0]!.engine.apply(w1.changesets)
    expect(await queryRows(url, sql, wait)).toEqual([['h7', 'shop', 'b2']])
    other.close()
  })

  it('times out with a clear error when the version never arrives', async () => {
    const res = await fetch(
      `${c.agents[0]!.apiUrl}/v1/queries?wait_actor=00000000-0000-4000-8000-000000000001&wait_version=5&wait_timeout_ms=200`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify('SELECT 1') },
    )
    expect(res.status).toBe(504)
    const body = (await res.json()) as { error: string; code: string }
    expect(body.code).toBe('PATINA_ERR_WAIT_TIMEOUT')
    expect(body.error).toMatch(/00000000-0000-4000-8000-000000000001/)
  })
})
