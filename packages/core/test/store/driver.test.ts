import { PatinaError } from '@patina/api'
import Database from 'better-sqlite3'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createStateEngine, openSubsStore, type StateEngine } from '../../src/index.js'
import { engines, TEST_SCHEMA } from '../helpers.js'

/** Every driver failure leaves core as a PatinaError with a code, never as a raw driver error. */

const env = engines()
const dir = mkdtempSync(join(tmpdir(), 'patina-driver-'))
afterAll(() => {
  env.cleanup()
  rmSync(dir, { recursive: true, force: true })
})

function thrown(fn: () => unknown): PatinaError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(PatinaError)
    return err as PatinaError
  }
  throw new Error('expected a throw')
}

const memory = (): StateEngine => createStateEngine({ path: ':memory:', schema: TEST_SCHEMA })

describe('driver errors become PatinaError inside core', () => {
  it.each([
    [
      'a missing named value',
      'INSERT INTO items (id, name) VALUES (:id, :name)',
      { ':id': 1 },
      'Missing named parameter "name"',
    ],
  ] as const)(
    'transaction: binding with %s is PATINA_ERR_SQL naming the problem',
    (_, sql, params, message) => {
      const e = thrown(() => memory().transaction([{ sql, params: params as never }]))
      expect([e.code, e.message]).toEqual(['PATINA_ERR_SQL', `statement 0: ${message}`])
    },
  )

  it('transaction: a failing step (constraint, overflow) is PATINA_ERR_SQL and names the statement', () => {
    const e = memory()
    const err = thrown(() =>
      e.transaction([
        { sql: `INSERT INTO items (id, qty) VALUES (1, 1)` },
        { sql: `INSERT INTO items (id, qty) VALUES (2, NULL)` },
      ]),
    )
    expect([err.code, err.message]).toEqual([
      'PATINA_ERR_SQL',
      'statement 1: NOT NULL constraint failed: items.qty',
    ])
    const overflow = thrown(() =>
      e.transaction([{ sql: `INSERT INTO items (id, qty) VALUES (1, abs(-9223372036854775807 - 1))` }]),
    )
    expect([overflow.code, overflow.message]).toEqual(['PATINA_ERR_SQL', 'integer overflow'])
    expect(e.stats().version).toBe(0)
  })

  it('query: a bad binding, and a step that fails after rows were read, are PATINA_ERR_SQL', () => {
    const e = env.open()
    e.transaction([{ sql: `INSERT INTO items (id, qty) VALUES (1, 1), (2, -9223372036854775807 - 1)` }])
    const bind = thrown(() => e.query('SELECT * FROM items WHERE id = ?', [1, 2]))
    expect([bind.code, bind.message]).toEqual([
      'PATINA_ERR_PARAM_INVALID',
      'the statement has 1 parameter but 2 values were given',
    ])
    const cur = e.query('SELECT id, abs(qty) FROM items ORDER BY id')
    expect(cur.rows.next().value).toEqual([1, 1])
    const late = thrown(() => cur.rows.next())
    expect([late.code, late.message]).toEqual(['PATINA_ERR_SQL', 'integer overflow'])
    // The read connection went back to the pool: the next query runs.
    expect([...e.query('SELECT count(*) FROM items').rows]).toEqual([[2]])
  })

  it.each([
    [
      'too few values',
      'INSERT INTO items (id, name) VALUES (?, ?)',
      [1],
      'the statement has 2 parameters but 1 value was given',
    ],
    [
      'too many values',
      'INSERT INTO items (id) VALUES (?)',
      [1, 2],
      'the statement has 1 parameter but 2 values were given',
    ],
  ] as const)(
    'transaction: binding with %s is PATINA_ERR_PARAM_INVALID saying what was expected',
    (_, sql, params, message) => {
      const e = thrown(() => memory().transaction([{ sql, params: [...params] }]))
      expect([e.code, e.message]).toEqual(['PATINA_ERR_PARAM_INVALID', message])
    },
  )

  it("apply: a version SQLite refuses is refused alone, with SQLite's code and message", () => {
    const a = env.open()
    const b = env.open(TEST_SCHEMA, 'refuses.sqlite')
    b.close()
    const raw = new Database(join(env.dir, 'refuses.sqlite'))
    raw.exec(
      `CREATE TRIGGER refuse BEFORE INSERT ON items WHEN NEW.name = 'x' BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END`,
    )
    raw.close()
    const again = createStateEngine({ path: join(env.dir, 'refuses.sqlite') })
    try {
      const w = a.transaction([{ sql: `INSERT INTO items (id, name) VALUES (1, 'x')` }])
      const w2 = a.transaction([{ sql: `INSERT INTO items (id, name) VALUES (2, 'y')` }])
      const res = again.apply([...w.changesets, ...w2.changesets])
      expect(res.refused.map((r) => [r.version, r.code, r.reason])).toEqual([
        [1, 'SQLITE_CONSTRAINT_TRIGGER', 'refused by trigger'],
      ])
      expect(again.contains(a.actorId, 1)).toBe(false)
      expect(again.contains(a.actorId, 2)).toBe(true)
    } finally {
      again.close()
    }
  })

  it('apply: a failure of the node itself (a lock held too long) fails the batch, PATINA_ERR_SQL, and the books roll back', () => {
    const a = env.open()
    const path = join(env.dir, 'busy.sqlite')
    createStateEngine({ path, schema: TEST_SCHEMA }).close()
    const again = createStateEngine({ path, busyTimeoutMs: 50 })
    const lock = new Database(path)
    try {
      const w = a.transaction([{ sql: `INSERT INTO items (id, name) VALUES (1, 'x')` }])
      const before = again.syncState()
      lock.exec('BEGIN IMMEDIATE')
      const err = thrown(() => again.apply(w.changesets))
      expect(err.code).toBe('PATINA_ERR_SQL')
      expect(err.message).toMatch(/locked|busy/i)
      expect(again.syncState()).toEqual(before)
      expect(again.refused()).toEqual([])
      lock.exec('ROLLBACK')
      expect(again.apply(w.changesets).versions).toEqual([{ actorId: a.actorId, version: 1 }])
    } finally {
      lock.close()
      again.close()
    }
  })

  it('opening a database or a subscription store that cannot be opened is PATINA_ERR_SQL naming the file', () => {
    const missing = join(dir, 'missing', 'db.sqlite')
    const engine = thrown(() => createStateEngine({ path: missing }))
    expect(engine.code).toBe('PATINA_ERR_SQL')
    expect(engine.message).toBe(
      `cannot open database ${missing}: Cannot open database because the directory does not exist`,
    )
    const subs = thrown(() => openSubsStore(missing))
    expect([subs.code, subs.message]).toEqual([engine.code, engine.message])
    writeFileSync(
      join(dir, 'junk.sqlite'),
      'this is not a database, just text long enough to fill a header page',
    )
    const junk = thrown(() => createStateEngine({ path: join(dir, 'junk.sqlite') }))
    expect(junk.code).toBe('PATINA_ERR_SQL')
    expect(junk.message).toMatch(/^cannot open database .*junk\.sqlite: file is not a database$/)
  })

  it('a store method failing in the driver is a PatinaError too', () => {
    const store = openSubsStore(':memory:')
    store.close()
    const err = thrown(() => store.list())
    expect(err.code).toBe('PATINA_ERR_INTERNAL')
    expect(err.message).toMatch(/not open/)
  })
})
