/**
 * Queries on read threads (`engine.queryAsync`, `store/read-threads.ts`): the same answers as
 * on the main thread, a runaway statement never holds the main thread and stops at its
 * deadline, a reader that stops reading frees its thread at the deadline, queries beyond the
 * thread count wait their turn, and errors before the first row reject.
 */
import type { SqlValue } from '@patina/api'
import { PatinaError } from '@patina/api'
import { afterAll, describe, expect, it } from 'vitest'
import { createStateEngine, type AsyncQueryCursor, type StateEngine } from '../../src/index.js'
import { engines } from '../helpers.js'

const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c'
const env = engines()
afterAll(() => env.cleanup())

async function all(cur: AsyncQueryCursor): Promise<SqlValue[][]> {
  const out: SqlValue[][] = []
  for await (const b of cur.batches) out.push(...b)
  return out
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(PatinaError)
    return (err as PatinaError).code
  }
  return 'no error'
}

/** Blobs come back from a thread as Uint8Array, from the main thread as Buffer: compare bytes. */
const plain = (rows: SqlValue[][]): unknown[][] =>
  rows.map((r) => r.map((v) => (v instanceof Uint8Array ? [...v] : v)))

function filled(n: number): StateEngine {
  const e = env.open()
  e.transaction([
    {
      sql: `INSERT INTO items (id, name, qty, data) SELECT n, 'name ' || n, n * 3, randomblob(8) FROM (WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < ${n}) SELECT n FROM r)`,
    },
    { sql: 'INSERT INTO items (id, name, qty) VALUES (-1, ?, 9007199254740993)', params: ['big'] },
  ])
  return e
}

describe('read threads', () => {
  it('give the same columns and rows as the main thread, over many batches', async () => {
    const e = filled(5000)
    const sql = 'SELECT id, name, qty, data, qty / 2.0 AS half FROM items ORDER BY id'
    const sync = e.query(sql)
    const cur = await e.queryAsync(sql)
    expect(cur.columns).toEqual(sync.columns)
    const rows = await all(cur)
    expect(rows.length).toBe(5001)
    expect(plain(rows)).toEqual(plain([...sync.rows]))
    expect(rows[0]?.[2]).toBe(9007199254740993n)
    await waitUntil(() => e.readThreads().busy === 0)
  })

  it('keep storage classes with exactIntegers, and answer the crsql_* compatibility names', async () => {
    const e = filled(3)
    const sql = 'SELECT qty, qty * 1.0, crsql_db_version(), hex(crsql_site_id()) FROM items WHERE id = 2'
    const rows = await all(await e.queryAsync(sql, undefined, { exactIntegers: true }))
    expect(rows).toEqual([...e.query(sql, undefined, { exactIntegers: true }).rows])
    expect(rows[0]?.[0]).toBe(6n)
    expect(rows[0]?.[1]).toBe(6)
    expect(rows[0]?.[2]).toBe(BigInt(e.stats().version))
    expect(rows[0]?.[3]).toBe(e.actorId.replace(/-/g, '').toUpperCase())
    await waitUntil(() => e.readThreads().busy === 0)
  })

  it('a runaway statement runs off the main thread and stops at its deadline', async () => {
    const e = filled(10)
    let settled = false
    const running = e.queryAsync(RUNAWAY, undefined, { timeoutMs: 1500 }).finally(() => (settled = true))
    // While it runs, the main thread is free: the loop turns and a main-thread query answers.
    await new Promise((r) => setImmediate(r))
    expect([...e.query('SELECT count(*) FROM items').rows]).toEqual([[11]])
    expect(settled).toBe(false)
    expect(await codeOf(running)).toBe('PATINA_ERR_TIMEOUT')
    expect(e.interrupts()).toBe(1)
    expect(await all(await e.queryAsync('SELECT 1'))).toEqual([[1]])
  })

  it('a reader that stops reading frees its thread at the deadline', async () => {
    const e = filled(20000)
    await all(await e.queryAsync('SELECT 1')) // the thread is started
    const cur = await e.queryAsync('SELECT id, name FROM items', undefined, { timeoutMs: 1000 })
    const first = await cur.batches.next()
    expect(first.done).toBe(false)
    expect(e.readThreads().busy).toBeGreaterThan(0)
    // ...and never reads again; the thread is given back once the deadline passed.
    await waitUntil(() => e.readThreads().busy === 0)
    // What was read ahead before the deadline is still delivered; then the deadline.
    expect(await codeOf(all(cur))).toBe('PATINA_ERR_TIMEOUT')
    expect(await all(await e.queryAsync('SELECT count(*) FROM items'))).toEqual([[20001]])
  })

  it('queries beyond the thread count wait their turn; their deadline runs while they wait', async () => {
    const e = createStateEngine({
      path: `${env.dir}/two-threads.db`,
      schema: 'CREATE TABLE t (id INTEGER PRIMARY KEY)',
      readThreads: 2,
    })
    try {
      const runaways = Array.from({ length: 4 }, () => e.queryAsync(RUNAWAY, undefined, { timeoutMs: 400 }))
      const quick = e.queryAsync('SELECT 42', undefined, { timeoutMs: 60_000 })
      await waitUntil(() => e.readThreads().threads === 2 && e.readThreads().waiting > 0)
      expect(e.readThreads().threads).toBe(2)
      for (const r of runaways) expect(await codeOf(r)).toBe('PATINA_ERR_TIMEOUT')
      expect(await all(await quick)).toEqual([[42]])
      // a query whose deadline passes while it waits never reaches a thread
      const blockers = [0, 1].map(() => e.queryAsync(RUNAWAY, undefined, { timeoutMs: 500 }))
      expect(await codeOf(e.queryAsync('SELECT 1', undefined, { timeoutMs: 50 }))).toBe('PATINA_ERR_TIMEOUT')
      for (const b of blockers) expect(await codeOf(b)).toBe('PATINA_ERR_TIMEOUT')
      expect(e.readThreads().threads).toBe(2)
    } finally {
      e.close()
    }
  })

  it('errors before the first row reject with the statement error', async () => {
    const e = filled(1)
    expect(await codeOf(e.queryAsync('INSERT INTO items (id) VALUES (99)'))).toBe('PATINA_ERR_NOT_READONLY')
    expect(await codeOf(e.queryAsync('SELEC 1'))).toBe('PATINA_ERR_STATEMENT_INVALID')
    expect(await codeOf(e.queryAsync('SELECT * FROM nope'))).toBe('PATINA_ERR_STATEMENT_INVALID')
    expect(await codeOf(e.queryAsync('SELECT ?', [1, 2]))).toBe('PATINA_ERR_PARAM_INVALID')
    expect(await all(await e.queryAsync('SELECT count(*) FROM items WHERE id > ?', [0]))).toEqual([[1]])
    await waitUntil(() => e.readThreads().busy === 0)
  })

  it('closing a cursor early stops its statement and frees the thread', async () => {
    const e = filled(20000)
    const cur = await e.queryAsync('SELECT * FROM items')
    await cur.batches.next()
    cur.close()
    await waitUntil(() => e.readThreads().busy === 0)
    expect(await all(await e.queryAsync('SELECT 7'))).toEqual([[7]])
  })

  it('cancelling a query stops its statement at once, even one without a deadline', async () => {
    const e = filled(1)
    const ac = new AbortController()
    const running = e.queryAsync(RUNAWAY, undefined, { signal: ac.signal })
    await waitUntil(() => e.readThreads().busy === 1)
    ac.abort()
    expect(await codeOf(running)).toBe('PATINA_ERR_CLOSED')
    // the thread's connection was interrupted (no deadline would ever have ended it) and is free
    await waitUntil(() => e.readThreads().busy === 0)
    expect(await all(await e.queryAsync('SELECT 5'))).toEqual([[5]])
    expect(e.readThreads().threads).toBe(1)
  })

  it('an engine in memory answers on the main thread, under the deadline', async () => {
    const e = createStateEngine({ path: ':memory:', schema: 'CREATE TABLE t (id INTEGER PRIMARY KEY)' })
    expect(await all(await e.queryAsync('SELECT 3'))).toEqual([[3]])
    expect(await codeOf(e.queryAsync(RUNAWAY, undefined, { timeoutMs: 50 }))).toBe('PATINA_ERR_TIMEOUT')
    e.close()
  })

  it('closing the engine fails a running query with PATINA_ERR_CLOSED', async () => {
    const e = createStateEngine({
      path: `${env.dir}/closing.db`,
      schema: 'CREATE TABLE t (id INTEGER PRIMARY KEY)',
    })
    const running = e.queryAsync(RUNAWAY, undefined, { timeoutMs: 30_000 })
    await waitUntil(() => e.readThreads().busy === 1)
    e.close()
    expect(await codeOf(running)).toBe('PATINA_ERR_CLOSED')
  })
})

async function waitUntil(cond: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}
