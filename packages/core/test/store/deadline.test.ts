/**
 * Statement deadlines enforced inside SQLite (`native/deadline.c`, `store/deadline.ts`): a
 * statement that runs past its deadline is stopped where it is, a transaction rolls back with
 * nothing left behind (database and memory), the node keeps working, client SQL cannot touch
 * the deadline, and a missing extension is a clear start-up error.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { PatinaError } from '@patina/api'
import { afterEach, describe, expect, it } from 'vitest'
import { createStateEngine, openSubsStore, type StateEngine } from '../../src/index.js'
import { DEADLINE_EXTENSION_PATH, loadDeadline } from '../../src/store/deadline.js'
import { dump, engines } from '../helpers.js'

const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c'
const BIG_INSERT =
  "INSERT INTO items (id, name) SELECT n, 'x' FROM (WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100000000) SELECT n FROM r)"

const env = engines()
afterEach(() => undefined)

function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(PatinaError)
    return (err as PatinaError).code
  }
  return 'no error'
}

describe.each([
  ['a database file (read connections)', () => env.open()],
  [
    'an in-memory database (reads on the writer)',
    () =>
      createStateEngine({
        path: ':memory:',
        schema:
          'CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER NOT NULL DEFAULT 0, data BLOB);',
      }),
  ],
])('deadlines on %s', (_name, open) => {
  it('stops a runaway query at its deadline with PATINA_ERR_TIMEOUT and keeps serving', () => {
    const e: StateEngine = open()
    expect(codeOf(() => [...e.query(RUNAWAY, undefined, { timeoutMs: 50 }).rows])).toBe('PATINA_ERR_TIMEOUT')
    expect(e.interrupts()).toBe(1)
    // The connection is clean: statements without and with a deadline run normally.
    expect([...e.query('SELECT 1 + 1').rows]).toEqual([[2]])
    for (let i = 0; i < 50; i++)
      expect([...e.query('SELECT 2', undefined, { timeoutMs: 5_000 }).rows]).toEqual([[2]])
  })

  it('stops a runaway write and rolls the whole transaction back, memory included', () => {
    const e: StateEngine = open()
    e.transaction([{ sql: "INSERT INTO items (id, name) VALUES (-1, 'before')" }])
    const before = { rows: dump(e), version: e.stats().version, sync: e.syncState() }
    let err: unknown
    try {
      e.transaction([{ sql: "INSERT INTO items (id, name) VALUES (-2, 'first')" }, { sql: BIG_INSERT }], {
        timeoutMs: 100,
      })
    } catch (x) {
      err = x
    }
    expect((err as PatinaError).code).toBe('PATINA_ERR_TIMEOUT')
    expect((err as PatinaError).message).toMatch(/deadline of 100 ms passed; nothing was written/)
    expect(dump(e)).toEqual(before.rows)
    expect(e.stats().version).toBe(before.version)
    expect(e.syncState()).toEqual(before.sync)
    // The next write takes the next version: no version was skipped or reused.
    const r = e.transaction([{ sql: "INSERT INTO items (id, name) VALUES (-3, 'after')" }], {
      timeoutMs: 5_000,
    })
    expect(r.version).toBe(before.version + 1)
    expect(e.contains(e.actorId, before.version + 1)).toBe(true)
  })

  it('a statement that starts after the deadline passed is stopped too', () => {
    const e: StateEngine = open()
    // The first statement uses most of the budget in JS-visible SQLite work; whichever statement
    // runs when the deadline passes (or starts after it) is stopped.
    const stmts = Array.from({ length: 200 }, (_, i) => ({
      sql: `INSERT INTO items (id, name) SELECT ${i} * 1000000 + n, 'x' FROM (WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 20000) SELECT n FROM r)`,
    }))
    expect(codeOf(() => e.transaction(stmts, { timeoutMs: 30 }))).toBe('PATINA_ERR_TIMEOUT')
    expect(dump(e)).toEqual([])
  })
})

describe('deadlines', () => {
  it('a query cursor read past its deadline is stopped at the next row', async () => {
    const e = env.open()
    e.transaction([
      {
        sql: "INSERT INTO items (id, name) SELECT n, 'x' FROM (WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1000) SELECT n FROM r)",
      },
    ])
    const cur = e.query('SELECT id FROM items ORDER BY id', undefined, { timeoutMs: 30 })
    expect(cur.rows.next().value).toEqual([1])
    await new Promise((r) => setTimeout(r, 80))
    expect(codeOf(() => cur.rows.next())).toBe('PATINA_ERR_TIMEOUT')
    expect([...e.query('SELECT count(*) FROM items').rows]).toEqual([[1000]])
  })

  it('never stops a statement that ends before its deadline (many short deadlines)', () => {
    const e = env.open()
    e.transaction([
      {
        sql: "INSERT INTO items (id, name) SELECT n, 'x' FROM (WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 2000) SELECT n FROM r)",
      },
    ])
    let stopped = 0
    for (let i = 0; i < 300; i++) {
      const ms = 1 + (i % 3)
      try {
        const rows = [...e.query('SELECT sum(id) FROM items', undefined, { timeoutMs: ms }).rows]
        expect(rows).toEqual([[2001000]])
      } catch (err) {
        expect((err as PatinaError).code).toBe('PATINA_ERR_TIMEOUT')
        stopped++
      }
      // a statement without a deadline right after never sees a stray interrupt
      expect([...e.query('SELECT count(*) FROM items').rows]).toEqual([[2000]])
      e.transaction([{ sql: 'UPDATE items SET qty = qty + 1 WHERE id = 1' }])
    }
    expect(e.interrupts()).toBe(stopped)
    expect([...e.query('SELECT qty FROM items WHERE id = 1').rows]).toEqual([[300]])
  })

  it('client SQL cannot arm, extend or disarm a deadline', () => {
    const e = env.open()
    const key = `x'${'00'.repeat(32)}'`
    for (const sql of [
      `SELECT __patina_deadline(${key}, 0)`,
      `SELECT __patina_deadline(${key}, 100000)`,
      `SELECT __patina_deadline(randomblob(32), 0)`,
      `SELECT __patina_deadline(NULL, 0)`,
      `SELECT __patina_deadline('k', 0)`,
    ]) {
      expect(
        codeOf(() => [...e.query(sql).rows]),
        sql,
      ).toMatch(/PATINA_ERR_(SQL|STATEMENT_INVALID|STATEMENT_REFUSED)/)
      expect(
        codeOf(() => e.transaction([{ sql }])),
        sql,
      ).toMatch(/PATINA_ERR_(SQL|STATEMENT_INVALID|STATEMENT_REFUSED)/)
    }
    // ...so a runaway statement that tries to disarm its own deadline first is still stopped
    const sneaky = `WITH RECURSIVE c(x) AS (SELECT __patina_deadline(randomblob(32), 0) UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c`
    expect(codeOf(() => [...e.query(sneaky, undefined, { timeoutMs: 50 }).rows])).not.toBe('no error')
    expect(codeOf(() => [...e.query(RUNAWAY, undefined, { timeoutMs: 50 }).rows])).toBe('PATINA_ERR_TIMEOUT')
  })

  it('loading the extension does not open load_extension() to SQL', () => {
    const e = env.open()
    expect(codeOf(() => [...e.query(`SELECT load_extension('${DEADLINE_EXTENSION_PATH}')`).rows])).not.toBe(
      'no error',
    )
  })

  it('a missing extension is a start-up error naming the file and how to rebuild it', () => {
    const db = new Database(':memory:')
    try {
      let err: unknown
      try {
        loadDeadline(db, { path: '/nonexistent/patina_deadline.node' })
      } catch (x) {
        err = x
      }
      expect((err as PatinaError).code).toBe('PATINA_ERR_DEADLINE_EXTENSION')
      expect((err as PatinaError).message).toContain('/nonexistent/patina_deadline.node')
      expect((err as PatinaError).message).toContain('pnpm --filter @patina/core run build:native')
      // a file that is not an extension
      expect(() => loadDeadline(db, { path: fileURLToPath(import.meta.url) })).toThrow(
        /cannot load the SQLite deadline extension/,
      )
    } finally {
      db.close()
    }
  })

  it('the subscription store loads it too', () => {
    const s = openSubsStore(':memory:')
    s.close()
  })

  it('keeps working after every connection that loaded it closed (the library stays mapped)', () => {
    // In a process of its own, so that no other connection keeps the library loaded.
    const script = `
      const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))})
      const key = Buffer.alloc(32, 7)
      const open = () => {
        const db = new Database(':memory:')
        db.loadExtension(${JSON.stringify(DEADLINE_EXTENSION_PATH)}, 'sqlite3_patinadeadline_init')
        db.prepare('SELECT __patina_deadline(?, 0)').get(key)
        return db
      }
      const a = open()
      a.prepare('SELECT __patina_deadline(?, 5)').get(key)
      a.close()
      const t = Date.now(); while (Date.now() - t < 50) {}
      const b = open()
      b.prepare('SELECT __patina_deadline(?, 20)').get(key)
      try { b.prepare(${JSON.stringify(RUNAWAY)}).get(); console.log('not stopped') } catch (e) { console.log(e.code) }
      b.close()
    `
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 })
    expect(out.trim()).toBe('SQLITE_INTERRUPT')
  })
})
