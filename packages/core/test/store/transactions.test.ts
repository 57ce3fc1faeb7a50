import { describe, expect, it } from 'vitest'
import { createStateEngine, SENTINEL, type StateEngine } from '../../src/index.js'
import { TEST_SCHEMA } from '../helpers.js'

const open = () => createStateEngine({ path: ':memory:', schema: TEST_SCHEMA })
const cells = (e: StateEngine, sql: string, params?: unknown[]) =>
  e
    .transaction([{ sql, params: params as never }])
    .changesets.flatMap((cs) => cs.changes.map((c) => [c.cid, c.val, c.colVersion, c.cl]))

describe('local transactions and change capture', () => {
  it('captures an insert as sentinel plus every column, with seqs in order', () => {
    const e = open()
    const r = e.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'a')" }])
    expect(r.version).toBe(1)
    expect(r.actorId).toBe(e.actorId)
    const cs = r.changesets[0]!
    expect(cs.changes.map((c) => [c.cid, c.val, c.colVersion, c.cl, c.seq])).toEqual([
      [SENTINEL, null, 1, 1, 0],
      ['name', 'a', 1, 1, 1],
      ['qty', 0n, 1, 1, 2],
      ['data', null, 1, 1, 3],
    ])
    expect([cs.seqStart, cs.seqEnd, cs.lastSeq]).toEqual([0, 3, 3])
  })

  it('captures only changed columns on update, bumping col_version', () => {
    const e = open()
    e.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'a')" }])
    expect(cells(e, 'UPDATE items SET qty = 5, name = name WHERE id = 1')).toEqual([['qty', 5n, 2, 1]])
    expect(cells(e, 'UPDATE items SET qty = 6 WHERE id = 1')).toEqual([['qty', 6n, 3, 1]])
  })

  it('reports no version when nothing changed', () => {
    const e = open()
    e.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'a')" }])
    const r = e.transaction([
      { sql: "INSERT OR IGNORE INTO items (id, name) VALUES (1, 'b')" },
      { sql: 'UPDATE items SET name = name' },
    ])
    expect(r.version).toBeNull()
    expect(r.changesets).toEqual([])
    expect(r.results.map((x) => x.rowsAffected)).toEqual([0, 1])
  })

  it('captures delete and re-insert with increasing causal length', () => {
    const e = open()
    e.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'a')" }])
    expect(cells(e, 'DELETE FROM items WHERE id = 1')).toEqual([[SENTINEL, null, 2, 2]])
    const re = cells(e, "INSERT INTO items (id, name) VALUES (1, 'b')")
    expect(re[0]).toEqual([SENTINEL, null, 3, 3])
    expect(re.slice(1)).toEqual([
      ['name', 'b', 1, 3],
      ['qty', 0n, 1, 3],
      ['data', null, 1, 3],
    ])
  })

  it('captures upserts, INSERT OR REPLACE and multi-row statements', () => {
    const e = open()
    const multi = e.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')" }])
    expect(multi.results[0]!.rowsAffected).toBe(3)
    expect(multi.changesets.flatMap((c) => c.changes).filter((c) => c.cid === SENTINEL)).toHaveLength(3)
    expect(
      cells(e, 'INSERT INTO items (id, qty) VALUES (1, 9) ON CONFLICT (id) DO UPDATE SET qty = excluded.qty'),
    ).toEqual([['qty', 9n, 2, 1]])
    // REPLACE of a live row is a delete and an insert, as in Corrosion: a new life (cl 1 → 3)
    // with every column at col_version 1.
    expect(cells(e, "INSERT OR REPLACE INTO items (id, name) VALUES (2, 'z')")).toEqual([
      [SENTINEL, null, 3, 3],
      ['name', 'z', 1, 3],
      ['qty', 0n, 1, 3],
      ['data', null, 1, 3],
    ])
  })

  it('captures a primary-key change as a delete plus an insert', () => {
    const e = open()
    e.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'a')" }])
    const r = e.transaction([{ sql: 'UPDATE items SET id = 10 WHERE id = 1' }])
    const ch = r.changesets.flatMap((c) => c.changes)
    expect(ch.filter((c) => c.cid === SENTINEL).map((c) => c.cl)).toEqual([2, 1])
    const a2 = open()
    a2.apply([...e.changesFor(a2.syncState())])
    expect([...a2.query('SELECT id, name FROM items').rows]).toEqual([[10, 'a']])
  })

  it('nets out several writes to one row in one transaction', () => {
    const e = open()
    const r = e.transaction([
      { sql: "INSERT INTO items (id, name) VALUES (1, 'a')" },
      { sql: "UPDATE items SET name = 'b' WHERE id = 1" },
      { sql: "UPDATE items SET name = 'c' WHERE id = 1" },
    ])
    expect(r.changesets.flatMap((c) => c.changes).map((c) => [c.cid, c.val])).toEqual([
      [SENTINEL, null],
      ['name', 'c'],
      ['qty', 0n],
      ['data', null],
    ])
    // Insert then delete in one transaction leaves nothing to replicate.
    expect(
      e.transaction([{ sql: 'INSERT INTO items (id) VALUES (2)' }, { sql: 'DELETE FROM items WHERE id = 2' }])
        .version,
    ).toBeNull()
  })

  it('accepts positional and named parameters with any prefix', () => {
    const e = open()
    e.transaction([
      { sql: 'INSERT INTO items (id, name) VALUES (?, ?)', params: [1, 'a'] },
      { sql: 'INSERT INTO items (id, name) VALUES (:id, @n)', params: { ':id': 2, '@n': 'b' } },
      { sql: 'INSERT INTO items (id, name) VALUES ($id, $n)', params: { $id: 3, $n: 'c' } },
      { sql: 'INSERT INTO items (id, data) VALUES (?, ?)', params: [4, new Uint8Array([1, 2, 3])] },
      { sql: 'INSERT INTO items (id, qty) VALUES (?, ?)', params: [5, 9007199254740993n] },
    ])
    const rows = [...e.query('SELECT id, name, qty, data FROM items ORDER BY id').rows]
    expect(rows.map((r) => r[1])).toEqual(['a', 'b', 'c', null, null])
    expect(rows[3]![3]).toEqual(Buffer.from([1, 2, 3]))
    expect(rows[4]![2]).toBe(9007199254740993n)
  })

  it('rolls back the whole batch on an SQL error, with the error message', () => {
    const e = open()
    let err: unknown
    try {
      e.transaction([
        { sql: "INSERT INTO items (id, name) VALUES (1, 'a')" },
        { sql: 'INSERT INTO nope VALUES (1)' },
      ])
    } catch (x) {
      err = x
    }
    expect((err as { code: string }).code).toBe('PATINA_ERR_SQL')
    expect((err as Error).message).toMatch(/statement 1: no such table: nope/)
    expect([...e.query('SELECT count(*) FROM items').rows]).toEqual([[0]])
    expect(e.stats().version).toBe(0)
  })

  it.each([
    ['ATTACH', "ATTACH 'x.db' AS x"],
    ['PRAGMA', 'PRAGMA user_version = 3'],
    ['CREATE', 'CREATE TABLE z (id INTEGER PRIMARY KEY)'],
    ['DROP', 'DROP TABLE items'],
    ['ALTER', 'ALTER TABLE items ADD COLUMN z TEXT'],
    ['BEGIN', 'BEGIN'],
    ['VACUUM', 'VACUUM'],
  ])('refuses %s statements in transactions', (_kw, sql) => {
    const e = open()
    expect(() => e.transaction([{ sql }])).toThrow(/not allowed in transactions/)
  })

  it('refuses writes to internal tables, also hidden in subqueries and CTEs', () => {
    const e = open()
    for (const sql of [
      'DELETE FROM __patina_meta',
      "INSERT INTO __patina_sites (actor_id) VALUES ('x')",
      'UPDATE __patina_clock_items SET cl = 2',
      'WITH x AS (SELECT 1) DELETE FROM __patina_vers',
    ]) {
      expect(() => e.transaction([{ sql }]), sql).toThrow(/writes to "__patina_\w+" are not allowed/)
    }
  })

  it('refuses an empty batch', () => {
    expect(() => open().transaction([])).toThrow(/at least 1 statement is required/)
  })
})

describe('queries', () => {
  it('streams rows with origin columns', () => {
    const e = open()
    e.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'a'), (2, 'b')" }])
    const cur = e.query('SELECT id, name AS n, 1 + 1 AS two FROM items WHERE id > ? ORDER BY id', [0])
    expect(cur.columns).toEqual([
      { name: 'id', table: 'items', column: 'id' },
      { name: 'n', table: 'items', column: 'name' },
      { name: 'two', table: null, column: null },
    ])
    expect([...cur.rows]).toEqual([
      [1, 'a', 2],
      [2, 'b', 2],
    ])
  })

  it.each([
    'INSERT INTO items (id) VALUES (9)',
    'DELETE FROM items',
    "ATTACH 'x' AS y",
    'PRAGMA user_version = 1',
    'CREATE TABLE q (a)',
  ])('refuses non-read statement %s', (sql) => {
    const e = open()
    let err: unknown
    try {
      e.query(sql)
    } catch (x) {
      err = x
    }
    expect((err as { code: string }).code).toBe('PATINA_ERR_NOT_READONLY')
    expect((err as Error).message).toMatch(/statement is not readonly/)
  })

  it('reports table stats with invalid tables', () => {
    const e = open()
    e.transaction([
      { sql: 'INSERT INTO items (id) VALUES (1), (2)' },
      { sql: "INSERT INTO pairs (a, b) VALUES ('x', 1)" },
    ])
    expect(e.tableStats(['items', 'pairs', 'nope', '__patina_meta'])).toEqual({
      totalRowCount: 3,
      invalidTables: ['nope', '__patina_meta'],
    })
  })
})
