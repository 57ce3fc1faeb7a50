import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { createSubscriptionHub, type SubscriptionHub } from '../../src/subs/hub.js'
import type { SubscriptionHubOptions } from '../../src/subs/options.js'
import { applyEvents, canon, makeEnv, MemorySink, type Env } from './helpers.js'

/**
 * One test per item of issue 13 (correctness review 2, sections 7, 8, 12, 16, and
 * Corrosion's resume semantics): a subscription is exact, or refused, or ends with an error.
 */
const SCHEMA = `
CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER, j TEXT);
CREATE TABLE u (id INTEGER PRIMARY KEY, tid INTEGER, w INTEGER);
`

let env: Env
let hub: SubscriptionHub
let registry: Registry
const open = (schema = SCHEMA, opts: Partial<SubscriptionHubOptions> = {}, now?: () => number) => {
  env = makeEnv(schema)
  registry = new Registry()
  hub = createSubscriptionHub(
    { engine: env.engine, store: env.store, logger: env.logger, registry, ...(now ? { now } : {}) },
    opts,
  )
}
afterEach(() => {
  hub.close()
  env.cleanup()
})
const tx = (...sqls: string[]) => env.engine.transaction(sqls.map((sql) => ({ sql })))
const rerun = (sql: string) => canon([...env.engine.query(sql).rows])
const view = (sink: MemorySink) => canon(applyEvents(sink.events()).values())
async function subscribe(
  sql: string,
  opts: { from?: number } = {},
): Promise<{ id: string; sink: MemorySink }> {
  const { info } = hub.upsert({ sql })
  const sink = new MemorySink()
  await hub.attach(info.id, sink, opts)
  return { id: info.id, sink }
}
const metric = async (name: string, labels: string): Promise<number> => {
  const text = await registry.metrics()
  const m = new RegExp(`^${name}\\{${labels}\\} (\\d+)`, 'm').exec(text)
  return Number(m?.[1] ?? 0)
}

describe('issue 13, item 1: aggregates are maintained exactly (by re-running them)', () => {
  it.each([
    'SELECT total(v) FROM t',
    'SELECT count() FROM t',
    'SELECT json_group_array(v) FROM t',
    'SELECT json_group_object(id, v) FROM t',
    "SELECT string_agg(v, ',') FROM t",
    'SELECT v % 2 AS odd, count(*), sum(v) FROM t GROUP BY odd HAVING count(*) > 0',
  ])('%s: the events rebuild the result of the query after every write', async (sql) => {
    open()
    tx('INSERT INTO t (id, v) VALUES (1, 1), (2, 2), (3, 3)')
    const { sink } = await subscribe(sql)
    for (const w of [
      'UPDATE t SET v = 7 WHERE id = 2',
      'INSERT INTO t (id, v) VALUES (4, 4)',
      'DELETE FROM t WHERE id = 1',
      'DELETE FROM t',
      'INSERT INTO t (id, v) VALUES (9, 9)',
    ]) {
      tx(w)
      hub.flush()
      expect(view(sink), `${sql} after ${w}`).toEqual(rerun(sql))
    }
  })

  it('an aggregate without GROUP BY is one row that is updated in place', async () => {
    open()
    tx('INSERT INTO t (id, v) VALUES (1, 1)')
    const { sink } = await subscribe('SELECT count(*), total(v) FROM t')
    tx('INSERT INTO t (id, v) VALUES (2, 5)')
    hub.flush()
    expect(sink.events().slice(1)).toEqual([
      { row: [1, [1, 1]] },
      { eoq: expect.anything() },
      { change: ['update', 1, [2, 6], 1] },
    ])
  })
})

describe('issue 13, item 2: a failed maintenance step never leaves a subscription stale quietly', () => {
  const SQL = "SELECT id, v, json_extract(j, '$.a') FROM t"

  it('ends the streams with an error and a metric; a new subscriber gets the error, then an exact snapshot once the row is fixed', async () => {
    open()
    tx(`INSERT INTO t VALUES (1, 1, '{"a":1}'), (2, 2, '{"a":2}')`)
    const { id, sink } = await subscribe(SQL)
    tx('UPDATE t SET v = 10 WHERE id = 1')
    hub.flush()
    expect(sink.events().at(-1)).toEqual({ change: ['update', 1, [1, 10, 1], 1] })
    // One good change and one row the query cannot read, in one commit.
    tx('UPDATE t SET v = 20 WHERE id = 2', `INSERT INTO t VALUES (3, 3, 'oops')`)
    hub.flush()
    expect(sink.closed).toBe(true)
    expect(sink.events().at(-1)).toEqual({
      error: expect.stringMatching(/no longer maintained: malformed JSON/),
    })
    expect(await metric('patina_subscription_failures_total', 'reason="sql_error"')).toBe(1)
    expect(hub.get(id)?.failed).toMatch(/malformed JSON/)

    const early = new MemorySink()
    await hub.attach(id, early)
    expect(early.events()).toEqual([{ error: expect.stringMatching(/cannot be maintained: malformed JSON/) }])

    tx(`UPDATE t SET j = '{"a":3}' WHERE id = 3`)
    hub.flush()
    const late = new MemorySink()
    await hub.attach(id, late)
    // Row 2's update, taken out of the failed step, is there.
    expect(view(late)).toEqual(rerun(SQL))
    expect(canon(applyEvents(late.events()).values())).toContain('[2,20,2]')
    expect(hub.get(id)?.failed).toBeNull()

    // A client that resumes from its last change id gets the revival as contiguous changes.
    const resumed = new MemorySink()
    await hub.attach(id, resumed, { from: 1 })
    expect(resumed.events().map((e) => (e['change'] as unknown[])[3])).toEqual([2, 3])
    const state = applyEvents(sink.events().filter((e) => !('error' in e)))
    expect(canon(applyEvents(resumed.events(), state).values())).toEqual(rerun(SQL))
  })

  it('a re-run subscription that outgrows rerunMaxRows ends with an error and a metric', async () => {
    open(SCHEMA, { rerunMaxRows: 3 })
    tx('INSERT INTO t (id, v) VALUES (1, 1), (2, 2)')
    const { id, sink } = await subscribe('SELECT DISTINCT v FROM t')
    tx('INSERT INTO t (id, v) VALUES (3, 3), (4, 4)')
    hub.flush()
    expect(sink.events().at(-1)).toEqual({
      error: expect.stringMatching(/more than 3 rows \(api\.subscriptions\.rerun_max_rows\)/),
    })
    expect(await metric('patina_subscription_failures_total', 'reason="rerun_rows"')).toBe(1)
    tx('DELETE FROM t WHERE id = 4')
    const again = new MemorySink()
    await hub.attach(id, again)
    expect(view(again)).toEqual(rerun('SELECT DISTINCT v FROM t'))
  })

  it('a re-run query larger than rerunMaxRows is refused at subscribe time, naming the limit', () => {
    open(SCHEMA, { rerunMaxRows: 2 })
    tx('INSERT INTO t (id, v) VALUES (1, 1), (2, 2), (3, 3)')
    expect(() => hub.upsert({ sql: 'SELECT DISTINCT v FROM t' })).toThrow(
      /SELECT DISTINCT cannot be maintained incrementally.*more than 2 rows \(api\.subscriptions\.rerun_max_rows\)/,
    )
    expect(hub.upsert({ sql: 'SELECT v FROM t' }).info.maintenance).toBe('incremental')
  })

  it('re-runs are spaced by rerunMaxShare on the scheduled path and coalesce the commits in between', async () => {
    // A clock that never moves: after one re-run, the next is due only when forced.
    open(SCHEMA, { rerunMaxShare: 0.001 }, () => 1_000)
    const { sink } = await subscribe('SELECT count(*) FROM t')
    tx('INSERT INTO t (id, v) VALUES (1, 1)')
    await new Promise((r) => setImmediate(r))
    await new Promise((r) => setImmediate(r))
    expect(sink.events().filter((e) => 'change' in e)).toHaveLength(1)
    tx('INSERT INTO t (id, v) VALUES (2, 2)')
    tx('INSERT INTO t (id, v) VALUES (3, 3)')
    await new Promise((r) => setImmediate(r))
    await new Promise((r) => setImmediate(r))
    expect(sink.events().filter((e) => 'change' in e)).toHaveLength(1)
    hub.flush()
    expect(
      sink
        .events()
        .filter((e) => 'change' in e)
        .map((e) => e['change']),
    ).toEqual([
      ['update', 1, [1], 1],
      ['update', 1, [3], 2],
    ])
  })
})

describe('issue 13, item 3: SELECT * after a schema change that adds a column', () => {
  it('ends the stream with an error naming the change; subscribing again gives the new header', async () => {
    open('CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);')
    tx("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    const star = await subscribe('SELECT * FROM t')
    const named = await subscribe('SELECT id, x FROM t')
    env.engine.applySchema("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT, z TEXT DEFAULT 'new');")
    tx("UPDATE t SET x = 'a2' WHERE id = 1")
    hub.flush()
    expect(star.sink.events().at(-1)).toEqual({
      error: expect.stringMatching(/columns changed after a schema change/),
    })
    expect(star.sink.events().some((e) => 'change' in e)).toBe(false)
    expect(hub.get(star.id)).toBeUndefined()
    expect(await metric('patina_subscription_failures_total', 'reason="columns_changed"')).toBe(1)
    const again = await subscribe('SELECT * FROM t')
    expect(again.sink.events()[0]).toEqual({ columns: ['id', 'x', 'z'] })
    expect(view(again.sink)).toEqual(rerun('SELECT * FROM t'))
    // A query that names its columns goes on, unaffected.
    expect(named.sink.closed).toBe(false)
    expect(named.sink.events().at(-1)).toEqual({ change: ['update', 1, [1, 'a2'], 1] })
  })

  it('replaces a subscription whose columns changed while the node was down', async () => {
    open('CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);')
    tx("INSERT INTO t VALUES (1, 'a')")
    const { id } = await subscribe('SELECT * FROM t')
    hub.close()
    env.reopen('CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT, z TEXT);')
    hub = createSubscriptionHub({ engine: env.engine, store: env.store, logger: env.logger })
    expect(hub.get(id)).toBeUndefined()
    const again = await subscribe('SELECT * FROM t')
    expect(again.sink.events()[0]).toEqual({ columns: ['id', 'x', 'z'] })
  })
})

describe('issue 13, item 4: queries that depend on time or chance are refused; NATURAL JOIN and [col] work', () => {
  it.each([
    ['SELECT id, random() FROM t', /random\(\) is not deterministic/],
    ["SELECT id FROM t WHERE j > datetime('now')", /datetime\('now'\) depends on the current time/],
    ['SELECT id, unixepoch() FROM t', /unixepoch\(\) without a time value depends on the current time/],
  ])('%s is refused with a 400 that says why', (sql, why) => {
    open()
    let err: unknown
    try {
      hub.upsert({ sql })
    } catch (e) {
      err = e
    }
    expect(err).toMatchObject({ code: 'PATINA_ERR_SUBSCRIPTION_UNSUPPORTED', status: 400 })
    expect((err as Error).message).toMatch(why)
  })

  it.each(['SELECT t.id, u.w FROM t NATURAL JOIN u', 'SELECT [id], t.[v] FROM t WHERE [v] > 1'])(
    '%s is maintained exactly',
    async (sql) => {
      open()
      tx('INSERT INTO t (id, v) VALUES (1, 1), (2, 2)', 'INSERT INTO u (id, tid, w) VALUES (1, 1, 10)')
      const { sink } = await subscribe(sql)
      for (const w of [
        'INSERT INTO u (id, w) VALUES (2, 20)',
        'UPDATE t SET v = 5 WHERE id = 1',
        'DELETE FROM u WHERE id = 1',
      ]) {
        tx(w)
        hub.flush()
        expect(view(sink), w).toEqual(rerun(sql))
      }
    },
  )
})

describe('issue 13, item 5: resuming ahead of the log', () => {
  it('keeps the stream open and sends the next changes', async () => {
    open()
    const { id } = await subscribe('SELECT id FROM t')
    const ahead = new MemorySink()
    await hub.attach(id, ahead, { from: 5 })
    expect(ahead.closed).toBe(false)
    expect(ahead.events()).toEqual([])
    tx('INSERT INTO t (id) VALUES (1)')
    hub.flush()
    expect(ahead.events()).toEqual([{ change: ['insert', 1, [1], 1] }])
  })
})

describe('issue 13, item 6: re-attach snapshots', () => {
  it('list rows in row-id order; an updated row keeps its id and its place, also after a restart', async () => {
    open()
    tx('INSERT INTO t (id, v) VALUES (1, 1), (2, 2), (3, 3)')
    const sql = 'SELECT id, v FROM t ORDER BY v DESC'
    const { id } = await subscribe(sql)
    tx('UPDATE t SET v = 10 WHERE id = 1')
    tx('INSERT INTO t (id, v) VALUES (4, 0)')
    tx('UPDATE t SET v = 20 WHERE id = 2')
    hub.flush()
    const rows = async () => {
      const s = new MemorySink()
      await hub.attach(id, s)
      return s
        .events()
        .filter((e) => 'row' in e)
        .map((e) => e['row'])
    }
    const want = [
      [1, [3, 3]],
      [2, [2, 20]],
      [3, [1, 10]],
      [4, [4, 0]],
    ]
    expect(await rows()).toEqual(want)
    hub.close()
    env.reopen()
    hub = createSubscriptionHub({ engine: env.engine, store: env.store, logger: env.logger })
    expect(await rows()).toEqual(want)
  })
})
