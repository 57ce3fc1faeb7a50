import fc from 'fast-check'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createStateEngine,
  type CommitEvent,
  type FullChangeset,
  type GroupedTransaction,
  type GroupOutcome,
  type StateEngine,
  type Statement,
} from '../../src/index.js'
import { dump, engines, TEST_SCHEMA } from '../helpers.js'

/**
 * Group commit (`StateEngine.transactions`): transactions run in one SQLite transaction, each
 * under its own savepoint, keep their own version, changesets and deadline, and fail alone.
 */

const RUNS = Number(process.env['PATINA_PROP_RUNS'] ?? 120)
const open = () => createStateEngine({ path: ':memory:', schema: TEST_SCHEMA })
const tx = (...sql: string[]): GroupedTransaction => ({ statements: sql.map((s) => ({ sql: s })) })
const RUNAWAY =
  "INSERT INTO items (id, name) SELECT 1000 + n, 'x' FROM (WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100000000) SELECT n FROM r)"

/** What a transaction's answer and changesets are, without the timestamps and timings. */
function shape(o: GroupOutcome): unknown {
  if (o.status === 'deferred') return { status: 'deferred' }
  if (o.status === 'failed') return { status: 'failed', code: o.error.code, message: o.error.message }
  return {
    status: 'committed',
    version: o.result.version,
    rows: o.result.results.map((r) => r.rowsAffected),
    changesets: o.result.changesets.map(csShape),
  }
}
const csShape = (cs: FullChangeset) => ({
  version: cs.version,
  seq: [cs.seqStart, cs.seqEnd, cs.lastSeq],
  changes: cs.changes.map((c) => [
    c.table,
    Buffer.from(c.pk).toString('hex'),
    c.cid,
    c.val,
    c.colVersion,
    c.cl,
    c.seq,
  ]),
})

/** The same transaction run alone with `transaction`, as an outcome. */
function alone(e: StateEngine, t: GroupedTransaction): GroupOutcome {
  try {
    return { status: 'committed', result: e.transaction(t.statements, t) }
  } catch (err) {
    return { status: 'failed', error: err as never }
  }
}

describe('group commit', () => {
  let env: ReturnType<typeof engines> | undefined
  afterEach(() => {
    env?.cleanup()
    env = undefined
  })

  it('a failing transaction fails alone; the others keep consecutive versions and their rows', () => {
    const e = open()
    const events: CommitEvent[] = []
    e.onCommit((ev) => events.push(ev))
    const out = e.transactions([
      tx("INSERT INTO items (id, name) VALUES (1, 'a')"),
      tx("INSERT INTO items (id, name) VALUES (2, 'b')", 'INSERT INTO items (id, qty) VALUES (1, NULL)'),
      tx("INSERT INTO items (id, name) VALUES (3, 'c')"),
      tx('SELEC nonsense'),
      tx("UPDATE items SET name = 'a2' WHERE id = 1"),
    ])
    expect(out.map((o) => o.status)).toEqual(['committed', 'failed', 'committed', 'failed', 'committed'])
    const versions = out.map((o) => (o.status === 'committed' ? o.result.version : null))
    expect(versions).toEqual([1, null, 2, null, 3])
    const failed = out[1] as Extract<GroupOutcome, { status: 'failed' }>
    expect(failed.error.code).toBe('PATINA_ERR_SQL')
    expect(failed.error.message).toMatch(/^statement 1: .*constraint/i)
    const rows = [
      [1, 'a2', 0, null],
      [3, 'c', 0, null],
    ]
    expect(dump(e)).toEqual(rows)
    // One event for the group: every version, each row once, the changesets in version order.
    expect(events).toHaveLength(1)
    const ev = events[0] as CommitEvent
    expect(ev.versions.map((v) => v.version)).toEqual([1, 2, 3])
    expect(ev.rows.map((r) => r.pkValues)).toEqual([[1n], [3n]])
    expect(ev.rows[0]?.cids).toEqual(['-1', 'name', 'qty', 'data'])
    expect(ev.changesets?.map((cs) => (cs as FullChangeset).version)).toEqual([1, 2, 3])
    expect(e.containsThrough(e.actorId, 3)).toBe(true)
    expect(e.containsThrough(e.actorId, 4)).toBe(false)
    // The next write follows on.
    expect(e.transaction([{ sql: "INSERT INTO items (id, name) VALUES (4, 'd')" }]).version).toBe(4)
    // A replica given the group's changesets holds the same rows, and nothing of the failed ones.
    const r = open()
    r.apply([...(ev.changesets as FullChangeset[])])
    expect(dump(r)).toEqual(rows)
    e.close()
    r.close()
  })

  it('a group where every transaction fails commits nothing and tells no listener', () => {
    const e = open()
    let events = 0
    e.onCommit(() => events++)
    const out = e.transactions([
      tx('INSERT INTO nope VALUES (1)'),
      tx('INSERT INTO items (id) VALUES (NULL, 2)'),
    ])
    expect(out.map((o) => o.status)).toEqual(['failed', 'failed'])
    expect(events).toBe(0)
    expect(e.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'a')" }]).version).toBe(1)
  })

  it('writes to a local table and transactions that change nothing get no version inside a group', () => {
    env = engines()
    const path = join(env.dir, 'local.db')
    const tool = new Database(path)
    tool.exec('CREATE TABLE mine (id INTEGER PRIMARY KEY)')
    tool.close()
    const e = createStateEngine({ path, schema: TEST_SCHEMA, localTables: ['mine'] })
    try {
      const out = e.transactions([
        tx('INSERT INTO mine (id) VALUES (1)'),
        tx("INSERT INTO items (id, name) VALUES (1, 'a')", 'INSERT INTO mine (id) VALUES (2)'),
        tx('INSERT INTO mine (id) VALUES (1)'),
        tx("UPDATE items SET name = 'a' WHERE id = 1"),
      ])
      expect(
        out.map(shape).map((o) => [(o as { status: string }).status, (o as { version?: unknown }).version]),
      ).toEqual([
        ['committed', null],
        ['committed', 1],
        ['failed', undefined],
        ['committed', null],
      ])
      expect([...e.query('SELECT id FROM mine ORDER BY id').rows]).toEqual([[1], [2]])
    } finally {
      e.close()
    }
  })

  it('a transaction stopped by its own deadline fails alone; the others commit', () => {
    env = engines()
    const e = env.open()
    const before = e.interrupts()
    const out = e.transactions([
      tx("INSERT INTO items (id, name) VALUES (1, 'a')"),
      {
        statements: [{ sql: "INSERT INTO items (id, name) VALUES (2, 'b')" }, { sql: RUNAWAY }],
        timeoutMs: 30,
      },
      tx("INSERT INTO items (id, name) VALUES (3, 'c')"),
    ])
    expect(out.map((o) => o.status)).toEqual(['committed', 'failed', 'committed'])
    expect((out[1] as { error: { code: string } }).error.code).toBe('PATINA_ERR_TIMEOUT')
    expect(out.map((o) => (o.status === 'committed' ? o.result.version : null))).toEqual([1, null, 2])
    // SQLite rolls the whole transaction back on an interrupt: the first transaction ran again in
    // a new one, and still got version 1.
    expect(dump(e).map((r) => r[0])).toEqual([1, 3])
    expect(e.interrupts()).toBe(before + 1)
  })

  it("the group's budget: no transaction but the first starts once it is spent, and a cut deadline defers", () => {
    env = engines()
    const e = env.open()
    const bulk = `INSERT INTO items (id, name) SELECT n, 'x' FROM (WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 20000) SELECT n FROM r)`
    // The first runs under its own deadline whatever the budget; the budget is then spent.
    const spent = e.transactions([tx(bulk), tx("INSERT INTO pairs (a, b) VALUES ('x', 1)")], { budgetMs: 1 })
    expect(spent.map((o) => o.status)).toEqual(['committed', 'deferred'])
    expect(dump(e, 'pairs')).toEqual([])
    // A runaway whose own deadline is longer than what is left is stopped at the cut: deferred
    // (it may run alone next time), rolled back, not counted as an interrupt. SQLite rolls the
    // whole transaction back on an interrupt, and the budget is spent: the first is deferred too.
    const before = e.interrupts()
    const cut = e.transactions(
      [
        tx("INSERT INTO pairs (a, b) VALUES ('y', 1)"),
        { statements: [{ sql: RUNAWAY }], timeoutMs: 60_000 },
        tx("INSERT INTO pairs (a, b) VALUES ('z', 1)"),
      ],
      // a budget the first insert cannot spend even on a loaded machine; the runaway always does
      { budgetMs: 500 },
    )
    expect(cut).toEqual([
      { status: 'deferred' },
      { status: 'deferred', stoppedByBudget: true },
      { status: 'deferred' },
    ])
    expect(e.interrupts()).toBe(before)
    expect(dump(e, 'pairs')).toEqual([])
    expect([...e.query('SELECT count(*) FROM items').rows]).toEqual([[20000]])
    // Run again first, each gets what it would have got alone.
    const again = e.transactions([tx("INSERT INTO pairs (a, b) VALUES ('y', 1)")], { budgetMs: 40 })
    expect(again.map((o) => o.status)).toEqual(['committed'])
    expect(dump(e, 'pairs').map((r) => r[0])).toEqual(['y'])
  })

  it('differential: random transactions in random groups give the same answers and state as one by one', () => {
    const id = fc.integer({ min: 1, max: 5 })
    const stmt: fc.Arbitrary<Statement> = fc.oneof(
      fc.tuple(id, fc.string({ maxLength: 3 })).map(([i, n]) => ({
        sql: 'INSERT INTO items (id, name) VALUES (?, ?)',
        params: [i, n],
      })),
      fc.tuple(id, fc.integer({ min: 0, max: 3 })).map(([i, q]) => ({
        sql: 'INSERT OR REPLACE INTO items (id, name, qty) VALUES (?, ?, ?)',
        params: [i, 'r', q],
      })),
      fc.tuple(id, fc.integer({ min: 0, max: 3 })).map(([i, q]) => ({
        sql: 'UPDATE items SET qty = qty + ? WHERE id = ?',
        params: [q, i],
      })),
      id.map((i) => ({ sql: 'DELETE FROM items WHERE id = ?', params: [i] })),
      // NOT NULL: fails when the row exists.
      id.map((i) => ({ sql: 'UPDATE items SET qty = NULL WHERE id = ?', params: [i] })),
      fc.tuple(fc.constantFrom('p', 'q'), id).map(([a, b]) => ({
        sql: 'INSERT INTO pairs (a, b, v) VALUES (?, ?, ?) ON CONFLICT (a, b) DO UPDATE SET v = v || excluded.v',
        params: [a, b, 'v'],
      })),
      fc.constant({ sql: 'INSERT INTO items (id) VALUES (' }),
    )
    const txs = fc.array(
      fc.array(stmt, { minLength: 1, maxLength: 3 }).map((statements) => ({ statements })),
      { minLength: 1, maxLength: 12 },
    )
    fc.assert(
      fc.property(
        txs,
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 12, maxLength: 12 }),
        (all, cuts) => {
          const grouped = open()
          const single = open()
          const events: CommitEvent[] = []
          grouped.onCommit((ev) => events.push(ev))
          try {
            const got: GroupOutcome[] = []
            for (let at = 0, g = 0; at < all.length; g++) {
              const n = cuts[g % cuts.length] as number
              got.push(...grouped.transactions(all.slice(at, at + n)))
              at += n
            }
            const want = all.map((t) => alone(single, t))
            expect(got.map(shape)).toEqual(want.map(shape))
            expect(dump(grouped)).toEqual(dump(single))
            expect(dump(grouped, 'pairs')).toEqual(dump(single, 'pairs'))
            // The events carry exactly the committed versions and changesets, in order.
            const committed = got.flatMap((o) =>
              o.status === 'committed' && o.result.version !== null ? [o] : [],
            )
            expect(events.flatMap((ev) => ev.versions.map((v) => v.version))).toEqual(
              committed.map((o) => (o as { result: { version: number } }).result.version),
            )
            expect(
              events.flatMap((ev) => (ev.changesets ?? []).map((cs) => csShape(cs as FullChangeset))),
            ).toEqual(
              committed.flatMap((o) =>
                (o as { result: { changesets: FullChangeset[] } }).result.changesets.map(csShape),
              ),
            )
            // A replica given the group's changesets converges to the same rows.
            const replica = open()
            replica.apply(events.flatMap((ev) => [...(ev.changesets ?? [])]))
            expect(dump(replica)).toEqual(dump(grouped))
            expect(dump(replica, 'pairs')).toEqual(dump(grouped, 'pairs'))
            replica.close()
          } finally {
            grouped.close()
            single.close()
          }
        },
      ),
      { numRuns: RUNS },
    )
  }, 300_000)
})
