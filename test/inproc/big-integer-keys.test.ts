/**
 * INTEGER primary keys over the whole signed 64-bit range replicate exactly, end to end: a JSON
 * body with the exact digits (bound as INTEGER), capture with safe integers, the changeset codec
 * (msgpackr, bigint), apply, the version and clock keys on the receiver, and the exact JSON of a
 * query on another node. 2^53 and 2^53 + 1 are both keys, so any rounding on the way would make
 * them one row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, waitFor, type TestCluster } from '../helpers/cluster.js'

const SCHEMA = `
CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT, n);
CREATE TABLE pair (a INTEGER NOT NULL, b INTEGER NOT NULL, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
`

/** POSTs a body given as text: JSON.stringify cannot write integers beyond 2^53. */
async function post(url: string, path: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  })
  return { status: res.status, text: await res.text() }
}

/** The `row` lines of a query answer, as their JSON text (exact digits). */
const rowLines = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('{"row"'))

describe('INTEGER primary keys beyond 2^53', () => {
  let c: TestCluster
  beforeAll(async () => {
    c = await startCluster(2, { schema: SCHEMA })
  })
  afterAll(async () => {
    await c?.stop()
  })

  it('9007199254740993 and -9223372036854775808 written as keys on one node read back exactly on another', async () => {
    const [a, b] = [c.agents[0]!, c.agents[1]!]
    const writes = [
      `[["INSERT INTO big (id, v, n) VALUES (?, ?, ?)", [9007199254740993, "param", 9007199254740993]]`,
      `["INSERT INTO big (id, v, n) VALUES (?, ?, ?)", [-9223372036854775808, "min", -9223372036854775808]]`,
      `"INSERT INTO big (id, v, n) VALUES (9007199254740992, 'two to the 53', 1.0)"`,
      `"INSERT INTO big (id, v, n) VALUES (9223372036854775807, 'max', NULL)"`,
      `["INSERT INTO pair (a, b, v) VALUES (?, ?, ?)", [-9223372036854775808, 9007199254740993, "pair"]]]`,
    ].join(',')
    const w1 = await post(a.apiUrl, '/v1/transactions', writes)
    expect(w1.status).toBe(200)
    // later versions address the rows by those keys: an update, a delete, a key change
    const w2 = await post(
      a.apiUrl,
      '/v1/transactions',
      `[["UPDATE big SET v = 'updated' WHERE id = ?", [9007199254740993]],
        "DELETE FROM big WHERE id = 9223372036854775807",
        ["UPDATE pair SET b = ? WHERE a = ? AND b = ?", [-1, -9223372036854775808, 9007199254740993]]]`,
    )
    expect(w2.status).toBe(200)
    const { version, actor_id: actor } = JSON.parse(w2.text) as { version: number; actor_id: string }
    await waitFor('b has both versions', () => b.engine.containsThrough(actor, version))

    const sql = JSON.stringify('SELECT id, typeof(id), v, n, typeof(n) FROM big ORDER BY id')
    const expected = [
      '{"row":[1,[-9223372036854775808,"integer","min",-9223372036854775808,"integer"]]}',
      '{"row":[2,[9007199254740992,"integer","two to the 53",1.0,"real"]]}',
      '{"row":[3,[9007199254740993,"integer","updated",9007199254740993,"integer"]]}',
    ]
    const onB = await post(b.apiUrl, '/v1/queries', sql)
    expect(onB.status).toBe(200)
    expect(rowLines(onB.text)).toEqual(expected)
    expect(rowLines((await post(a.apiUrl, '/v1/queries', sql)).text)).toEqual(expected)
    const pairs = JSON.stringify('SELECT a, b, v FROM pair')
    expect(rowLines((await post(b.apiUrl, '/v1/queries', pairs)).text)).toEqual([
      '{"row":[1,[-9223372036854775808,-1,"pair"]]}',
    ])
    // a key looked up by a bound parameter on the receiver finds exactly its row
    const one = await post(b.apiUrl, '/v1/queries', `["SELECT v FROM big WHERE id = ?", [9007199254740993]]`)
    expect(rowLines(one.text)).toEqual(['{"row":[1,["updated"]]}'])
  })
})
