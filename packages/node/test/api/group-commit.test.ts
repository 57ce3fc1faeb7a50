import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStateEngine, type GroupedTransaction, type GroupOutcome, type StateEngine } from '@patina/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createGroupCommit, groupSize, settle, type Answer } from '../../src/api/group-commit.js'
import { makeApi, type TestApi } from './helpers.js'
import { SCHEMA } from '../subs/helpers.js'

const committed = (v: number): GroupOutcome => ({
  status: 'committed',
  result: { results: [], version: v, actorId: 'a', changesets: [], time: 0 },
})
const failed = { status: 'failed', error: new Error('x') } as unknown as GroupOutcome
const deferred: GroupOutcome = { status: 'deferred' }
const stopped: GroupOutcome = { status: 'deferred', stoppedByBudget: true }

describe('group commit decisions', () => {
  it.each([
    { outcomes: [], answer: [], again: [] },
    { outcomes: [committed(1)], answer: [0], again: [] },
    { outcomes: [committed(1), failed, committed(2)], answer: [0, 1, 2], again: [] },
    { outcomes: [committed(1), deferred, deferred], answer: [0], again: [1, 2] },
    { outcomes: [deferred, failed, deferred, committed(3)], answer: [1, 3], again: [0, 2] },
    // The one stopped by the budget leads the next group; the ones rolled back with it follow.
    { outcomes: [deferred, stopped, deferred], answer: [], again: [1, 0, 2] },
    { outcomes: [committed(1), stopped, deferred], answer: [0], again: [1, 2] },
  ])('settle $outcomes.length outcomes → answer $answer, again $again', ({ outcomes, answer, again }) => {
    expect(settle(outcomes)).toEqual({ answer, again })
  })

  it.each([
    [0, 64, 0],
    [1, 64, 1],
    [64, 64, 64],
    [65, 64, 64],
    [7, 3, 3],
  ])('groupSize(%i queued, max %i) = %i', (queued, max, want) => {
    expect(groupSize(queued, max)).toBe(want)
  })
})

describe('createGroupCommit', () => {
  let engine: StateEngine | undefined
  let cleanup = (): void => {}
  afterEach(() => {
    engine?.close()
    engine = undefined
    cleanup()
    cleanup = () => {}
  })
  const tx = (sql: string, timeoutMs = 400) => ({ statements: [{ sql }], timeoutMs })
  const versionOf = (a: Answer) => (a.status === 'committed' ? a.result.version : a.error.code)

  it('requests submitted together run as one group; one that fails fails alone', async () => {
    engine = createStateEngine({ path: ':memory:', schema: SCHEMA })
    const sizes: number[] = []
    const gc = createGroupCommit(engine, { maxGroup: 64, budgetMs: 400, onGroup: (n) => sizes.push(n) })
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        gc.submit(
          tx(i === 4 ? 'INSERT INTO users (id) VALUES (1)' : `INSERT INTO users (id) VALUES (${i + 1})`),
        ),
      ),
    )
    expect(sizes).toEqual([10])
    expect(answers.map(versionOf)).toEqual([1, 2, 3, 4, 'PATINA_ERR_SQL', 5, 6, 7, 8, 9])
    expect(gc.queued).toBe(0)
  })

  it('takes at most maxGroup per group; the rest form the next groups', async () => {
    engine = createStateEngine({ path: ':memory:', schema: SCHEMA })
    const sizes: number[] = []
    const gc = createGroupCommit(engine, { maxGroup: 3, budgetMs: 400, onGroup: (n) => sizes.push(n) })
    const answers = await Promise.all(
      Array.from({ length: 7 }, (_, i) => gc.submit(tx(`INSERT INTO users (id) VALUES (${i + 1})`))),
    )
    expect(sizes).toEqual([3, 3, 1])
    expect(answers.map(versionOf)).toEqual([1, 2, 3, 4, 5, 6, 7])
  })

  it('a request deferred by the budget runs first in the next group, under its own deadline', async () => {
    engine = createStateEngine({ path: ':memory:', schema: SCHEMA })
    const sizes: number[] = []
    const gc = createGroupCommit(engine, { maxGroup: 64, budgetMs: 30, onGroup: (n) => sizes.push(n) })
    const runaway = `INSERT INTO users (id) SELECT 100 + n FROM (WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100000000) SELECT n FROM r)`
    const answers = await Promise.all([
      gc.submit(tx('INSERT INTO users (id) VALUES (1)')),
      gc.submit(tx(runaway, 60)),
      gc.submit(tx('INSERT INTO users (id) VALUES (2)')),
    ])
    // The runaway was cut at the group's budget (deferred, with what ran before it: SQLite rolls
    // the whole transaction back on an interrupt), then stopped by its own 60 ms deadline
    // leading the next group.
    expect(answers.map(versionOf)).toEqual([1, 'PATINA_ERR_TIMEOUT', 2])
    expect(sizes[0]).toBe(3)
    expect(sizes.length).toBeGreaterThan(1)
  })

  it('a runaway whose own deadline equals the budget is not cut forever: it leads the next group', async () => {
    // On a file: SQLite then rolls the whole transaction back on the interrupt, so the request
    // before the runaway is deferred with it every time (in memory it may roll back the statement only).
    const dir = mkdtempSync(join(tmpdir(), 'patina-gc-'))
    cleanup = () => rmSync(dir, { recursive: true, force: true })
    engine = createStateEngine({ path: join(dir, 'state.db'), schema: SCHEMA })
    // Every group as run: what it was given and what came back.
    const runs: { group: GroupedTransaction[]; out: GroupOutcome[] }[] = []
    const transactions = engine.transactions.bind(engine)
    engine.transactions = (group, o) => {
      const out = transactions(group, o)
      runs.push({ group, out })
      return out
    }
    const gc = createGroupCommit(engine, { maxGroup: 64, budgetMs: 40 })
    const runaway = `INSERT INTO users (id) SELECT 100 + n FROM (WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100000000) SELECT n FROM r)`
    const answers = await Promise.all([
      gc.submit(tx('INSERT INTO users (id) VALUES (1)')),
      gc.submit(tx(runaway, 40)),
      gc.submit(tx('INSERT INTO users (id) VALUES (2)')),
    ])
    expect(answers.map((a) => (a.status === 'committed' ? 'ok' : a.error.code))).toEqual([
      'ok',
      'PATINA_ERR_TIMEOUT',
      'ok',
    ])
    expect(engine.interrupts()).toBe(1)
    // The first group cuts the runaway (the insert before it leads, so less than 40 ms is left);
    // whatever SQLite rolled back with it, the runaway leads the next group. Requeued in arrival
    // order instead, the insert would lead again and the runaway be cut again, for as long as
    // SQLite keeps rolling the whole transaction back.
    expect(runs[0]?.out[1]).toEqual({ status: 'deferred', stoppedByBudget: true })
    runs.forEach((r, i) => {
      r.out.forEach((o, j) => {
        if (o.status === 'deferred' && o.stoppedByBudget === true)
          expect(runs[i + 1]?.group[0]).toBe(r.group[j])
      })
    })
  })

  it('a schema change made while requests wait applies to them: they are checked when their group runs', async () => {
    engine = createStateEngine({ path: ':memory:', schema: SCHEMA })
    const gc = createGroupCommit(engine, { maxGroup: 64, budgetMs: 400 })
    const early = gc.submit(tx("INSERT INTO later (id, v) VALUES (1, 'x')"))
    const alsoEarly = gc.submit(tx('INSERT INTO users (id) VALUES (1)'))
    // On the same thread, before the group runs: schema changes never happen inside a group.
    engine.applySchema(`${SCHEMA}\nCREATE TABLE later (id INTEGER PRIMARY KEY, v TEXT);`)
    expect((await early).status).toBe('committed')
    expect(versionOf(await alsoEarly)).toBe(2)
    expect([...engine.query('SELECT v FROM later').rows]).toEqual([['x']])
  })

  it('rejects what it cannot run once the engine is closed', async () => {
    const e = createStateEngine({ path: ':memory:', schema: SCHEMA })
    const gc = createGroupCommit(e, { maxGroup: 64, budgetMs: 400 })
    e.close()
    await expect(gc.submit(tx('INSERT INTO users (id) VALUES (1)'))).rejects.toMatchObject({
      code: 'PATINA_ERR_CLOSED',
    })
  })
})

describe('POST /v1/transactions under group commit', () => {
  let api: TestApi | undefined
  afterEach(async () => {
    await api?.close()
    api = undefined
  })

  for (const max of [64, 1]) {
    it(`concurrent requests get distinct consecutive versions; a failing one fails alone (transactions_per_group_max ${max})`, async () => {
      api = await makeApi({ maxTransactionsPerGroup: max })
      const app = api.app
      const N = 24
      const res = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          app.inject({
            method: 'POST',
            url: '/v1/transactions',
            payload:
              i % 6 === 5
                ? [
                    ['INSERT INTO users (id, name) VALUES (?, ?)', [1000 + i, 'x']],
                    ['INSERT INTO users (id, name) VALUES (?, NULL)', [2000 + i]],
                  ]
                : [['INSERT INTO users (id, name) VALUES (?, ?)', [i, `u${i}`]]],
          }),
        ),
      )
      const ok = res
        .filter((r) => r.statusCode === 200)
        .map((r) => r.json() as { version: number; actor_id: string })
      const bad = res.filter((r) => r.statusCode !== 200)
      expect(bad).toHaveLength(4)
      for (const r of bad) {
        expect(r.statusCode).toBe(500)
        const body = r.json() as { results: { error: string; code: string }[]; version: unknown }
        expect(body.version).toBeNull()
        expect(body.results).toEqual([
          {
            error: expect.stringMatching(/statement 1: NOT NULL constraint failed: users.name$/),
            code: 'PATINA_ERR_SQL',
          },
        ])
      }
      expect(ok.map((r) => r.version).sort((a, b) => a - b)).toEqual(
        Array.from({ length: N - 4 }, (_, i) => i + 1),
      )
      expect(new Set(ok.map((r) => r.actor_id))).toEqual(new Set([api.env.engine.actorId]))
      const rows = [...api.env.engine.query('SELECT id FROM users ORDER BY id').rows].map((r) => r[0])
      expect(rows).toEqual(Array.from({ length: N }, (_, i) => i).filter((i) => i % 6 !== 5))
      const metrics = await (await app.inject({ method: 'GET', url: '/metrics' })).body
      const sum = /patina_api_transaction_group_size_sum (\d+)/.exec(metrics)
      const count = Number(/patina_api_transaction_group_size_count (\d+)/.exec(metrics)?.[1] ?? 0)
      // Every request went through a group when group commit is on; none when it is off.
      expect(Number(sum?.[1] ?? 0)).toBe(max > 1 ? N : 0)
      // Injected requests are all dispatched before the event loop's check phase: they share groups.
      if (max > 1) expect(count).toBeLessThan(N)
    })
  }
})
