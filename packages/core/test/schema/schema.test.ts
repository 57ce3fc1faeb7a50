import { describe, expect, it } from 'vitest'
import { createStateEngine } from '../../src/index.js'
import { dump, engines } from '../helpers.js'

const refused = (schema: string, pattern: RegExp, code = 'PATINA_ERR_SCHEMA_INVALID') => {
  let err: unknown
  try {
    createStateEngine({ path: ':memory:', schema }).close()
  } catch (e) {
    err = e
  }
  expect(err, `expected ${schema} to be refused`).toBeDefined()
  expect((err as { code: string }).code).toBe(code)
  expect((err as Error).message).toMatch(pattern)
}

describe('schema rules', () => {
  it('requires a primary key', () =>
    refused('CREATE TABLE t (a TEXT)', /table "t": a PRIMARY KEY is required/))
  it('requires a default on non-key NOT NULL columns', () =>
    refused(
      'CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL)',
      /column "a": NOT NULL columns need a DEFAULT/,
    ))
  it('refuses foreign keys', () =>
    refused(
      'CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE t (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id))',
      /table "t": FOREIGN KEY/,
    ))
  it('refuses UNIQUE constraints', () =>
    refused('CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE)', /table "t": UNIQUE constraint/))
  it('refuses UNIQUE indexes', () =>
    refused(
      'CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT); CREATE UNIQUE INDEX tu ON t (a)',
      /table "t": UNIQUE constraint or index tu/,
    ))
  it("accepts Corrosion's `id BLOB PRIMARY KEY` and refuses NULL key values when written", () => {
    const e = createStateEngine({
      path: ':memory:',
      schema: 'CREATE TABLE todos (id BLOB PRIMARY KEY, title TEXT NOT NULL DEFAULT "")',
    })
    expect(() =>
      e.transaction([{ sql: 'INSERT INTO todos (id, title) VALUES (NULL, ?)', params: ['x'] }]),
    ).toThrow(/table "todos": primary key column "id" cannot be NULL/)
    expect(e.transaction([{ sql: "INSERT INTO todos (id, title) VALUES (x'01', 'x')" }]).version).toBe(1)
    e.close()
  })
  it('accepts WITHOUT ROWID and INTEGER PRIMARY KEY tables', () => {
    const e = createStateEngine({
      path: ':memory:',
      schema:
        'CREATE TABLE a (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID; CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT NOT NULL DEFAULT "")',
    })
    expect([...e.schema().tables.keys()]).toEqual(['a', 'b'])
    expect(e.schema().tables.get('b')?.pk).toEqual(['id'])
    e.close()
  })
  it('refuses statements other than CREATE TABLE / CREATE INDEX', () => {
    refused('CREATE VIEW v AS SELECT 1', /only CREATE TABLE and CREATE INDEX/)
    refused(
      'CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)',
      /INSERT.*only CREATE TABLE and CREATE INDEX/,
    )
    refused('CREATE TRIGGER x AFTER INSERT ON t BEGIN SELECT 1; END', /only CREATE TABLE and CREATE INDEX/)
  })
  it('refuses reserved table names', () =>
    refused('CREATE TABLE __patina_x (id INTEGER PRIMARY KEY)', /reserved/))
  it('reports SQL errors in schema files', () =>
    refused('CREATE TABLE t (id INTEGER PRIMARY KEY,', /schema statement failed/))
})

describe('schema changes', () => {
  it('adds tables, columns and indexes additively without writing changes per row', () => {
    const env = engines()
    try {
      const e = env.open('CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)')
      const rows = Array.from({ length: 50 }, (_, i) => ({
        sql: 'INSERT INTO t (id, a) VALUES (?, ?)',
        params: [i, `v${i}`],
      }))
      e.transaction(rows)
      const before = e.syncState()
      const r = e.applySchema(
        'CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER NOT NULL DEFAULT 7, c TEXT); CREATE INDEX t_b ON t (b); CREATE TABLE u (k TEXT NOT NULL PRIMARY KEY)',
      )
      expect(r.tablesCreated).toEqual(['u'])
      expect(r.columnsAdded).toEqual(['t.b', 't.c'])
      expect(r.indexesChanged).toEqual(['t_b'])
      // No new version: adding a column costs no replication traffic.
      expect(e.syncState()).toEqual(before)
      expect([...e.query('SELECT b, c FROM t WHERE id = 3').rows]).toEqual([[7, null]])
      // A peer with the new schema receiving the old rows sees the default too, and later writes win over it.
      const f = env.open(
        'CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER NOT NULL DEFAULT 7, c TEXT)',
      )
      for (const cs of e.changesFor(f.syncState())) f.apply([cs])
      expect(dump(f, 't')).toEqual(dump(e, 't'))
      const w = e.transaction([{ sql: 'UPDATE t SET b = 9 WHERE id = 3' }])
      f.apply(w.changesets)
      expect([...f.query('SELECT b FROM t WHERE id = 3').rows]).toEqual([[9]])
      expect([...f.query('SELECT count(*) FROM t').rows]).toEqual([[50]])
    } finally {
      env.cleanup()
    }
  })

  it('refuses destructive changes with a clear error', () => {
    const e = createStateEngine({
      path: ':memory:',
      schema: 'CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)',
    })
    const bad = (sql: string, re: RegExp) => {
      expect(() => e.applySchema(sql)).toThrow(re)
      try {
        e.applySchema(sql)
      } catch (err) {
        expect((err as { code: string }).code).toBe('PATINA_ERR_SCHEMA_DESTRUCTIVE')
      }
    }
    bad('CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)', /column "b" removed/)
    bad('CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT)', /column "a" definition changed/)
    bad('CREATE TABLE t (k TEXT NOT NULL PRIMARY KEY, a TEXT, b TEXT)', /primary key changed/)
    // Tables missing from the files are kept (overlay), not dropped.
    e.applySchema('CREATE TABLE other (id INTEGER PRIMARY KEY)')
    expect([...e.schema().tables.keys()].sort()).toEqual(['other', 't'])
    e.close()
  })

  it('keeps the schema and identity across reopen', () => {
    const env = engines()
    try {
      const path = 'same.sqlite'
      const a = env.open('CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)', path)
      const id = a.actorId
      a.transaction([{ sql: 'INSERT INTO t VALUES (1, ?)', params: ['x'] }])
      a.close()
      const b = env.open('CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)', path)
      expect(b.actorId).toBe(id)
      expect(b.syncState().heads[id]).toBe(1)
      expect(b.transaction([{ sql: 'UPDATE t SET a = ? WHERE id = 1', params: ['y'] }]).version).toBe(2)
    } finally {
      env.cleanup()
    }
  })
})
