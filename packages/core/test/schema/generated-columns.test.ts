import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { columnDefinitions } from '../../src/schema/columns.js'
import { parseSchema } from '../../src/store/schema-store.js'
import { engines } from '../helpers.js'

const CONSUL = readFileSync(join(import.meta.dirname, '../../../../test/fixtures/consul-schema.sql'), 'utf8')

let env: ReturnType<typeof engines> | undefined
afterEach(() => {
  env?.cleanup()
  env = undefined
})

describe('columnDefinitions', () => {
  it('splits a column list at top-level commas, past quotes, brackets and comments', () => {
    const defs = columnDefinitions(`CREATE TABLE "t" (
      "a b" TEXT DEFAULT 'x, (y', -- a comment, with a comma
      [c] INTEGER AS (json_extract(m, '$.a,b')) STORED,
      d /* block, comment */ INTEGER,
      CONSTRAINT k PRIMARY KEY ("a b"),
      CHECK (d > 0)
    )`)
    expect([...defs]).toEqual([
      ['a b', `"a b" TEXT DEFAULT 'x, (y'`],
      ['c', `[c] INTEGER AS (json_extract(m, '$.a,b')) STORED`],
      ['d', 'd INTEGER'],
    ])
  })
})

describe('generated columns (VIRTUAL and STORED)', () => {
  it("accepts Corrosion's documented consul schema and models its generated columns apart", () => {
    const model = parseSchema(CONSUL)
    const svc = model.tables.get('consul_services')
    expect(svc?.pk).toEqual(['node', 'id'])
    expect(svc?.columns.map((c) => c.name)).not.toContain('app_id')
    expect(svc?.generated).toEqual([
      {
        name: 'app_id',
        stored: false,
        sql: "app_id INTEGER AS (CAST(JSON_EXTRACT(meta, '$.app_id') AS INTEGER))",
      },
      {
        name: 'network_id',
        stored: false,
        sql: "network_id INTEGER AS ( CAST(JSON_EXTRACT(meta, '$.network_id') AS INTEGER) )",
      },
      { name: 'app_name', stored: false, sql: "app_name TEXT AS (JSON_EXTRACT(meta, '$.app_name'))" },
    ])
  })

  it('replicates only the replicated columns; every node computes the generated ones, STORED too', () => {
    env = engines()
    const schema = `${CONSUL}
      CREATE TABLE s (id INTEGER PRIMARY KEY, a INTEGER, twice INTEGER AS (a * 2) STORED, label TEXT AS ('n' || a));`
    const a = env.open(schema)
    const b = env.open(schema)
    const r = a.transaction([
      {
        sql: "INSERT INTO consul_services (node, id, name, meta) VALUES ('n1', 'web', 'web', ?)",
        params: ['{"app_id": 42, "network_id": 7, "app_name": "shop"}'],
      },
      { sql: 'INSERT INTO s (id, a) VALUES (1, 5)' },
    ])
    const cids = r.changesets.flatMap((c) => (c.kind === 'full' ? c.changes.map((x) => x.cid) : []))
    expect(cids).not.toContain('app_id')
    expect(cids).not.toContain('twice')
    expect(cids).not.toContain('label')
    b.apply(r.changesets)
    for (const e of [a, b]) {
      expect([...e.query('SELECT app_id, network_id, app_name FROM consul_services').rows]).toEqual([
        [42, 7, 'shop'],
      ])
      expect([...e.query('SELECT twice, label FROM s').rows]).toEqual([[10, 'n5']])
    }
    const u = a.transaction([
      { sql: 'UPDATE consul_services SET meta = \'{"app_id": 9}\'' },
      { sql: 'UPDATE s SET a = 6' },
    ])
    b.apply(u.changesets)
    expect([...b.query('SELECT app_id, app_name FROM consul_services').rows]).toEqual([[9, null]])
    expect([...b.query('SELECT twice, label FROM s').rows]).toEqual([[12, 'n6']])
  })

  it('refuses writes to a generated column as SQLite does', () => {
    env = engines()
    const a = env.open(CONSUL)
    expect(() =>
      a.transaction([{ sql: "INSERT INTO consul_services (node, id, app_id) VALUES ('n', 'x', 1)" }]),
    ).toThrow(/generated column/)
  })

  it('adds a VIRTUAL generated column by schema change, computed for existing rows on every node', () => {
    env = engines()
    const v1 = 'CREATE TABLE t (id INTEGER PRIMARY KEY, meta TEXT);'
    const v2 =
      "CREATE TABLE t (id INTEGER PRIMARY KEY, meta TEXT, app TEXT AS (json_extract(meta, '$.app')));"
    const a = env.open(v1)
    const b = env.open(v1)
    b.apply(a.transaction([{ sql: `INSERT INTO t VALUES (1, '{"app": "x"}')` }]).changesets)
    for (const e of [a, b]) e.applySchema(v2)
    for (const e of [a, b]) expect([...e.query('SELECT id, app FROM t').rows]).toEqual([[1, 'x']])
    b.apply(a.transaction([{ sql: `INSERT INTO t (id, meta) VALUES (2, '{"app": "y"}')` }]).changesets)
    expect([...b.query('SELECT id, app FROM t ORDER BY id').rows]).toEqual([
      [1, 'x'],
      [2, 'y'],
    ])
  })

  it('refuses adding a STORED generated column, and changing or removing one, naming the column', () => {
    env = engines()
    const a = env.open(
      "CREATE TABLE t (id INTEGER PRIMARY KEY, meta TEXT, app TEXT AS (json_extract(meta, '$.app')));",
    )
    expect(() =>
      a.applySchema(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, meta TEXT, app TEXT AS (json_extract(meta, '$.app')), n INTEGER AS (length(meta)) STORED);",
      ),
    ).toThrow(/generated column "n" is STORED; SQLite can only add VIRTUAL/)
    expect(() =>
      a.applySchema(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, meta TEXT, app TEXT AS (json_extract(meta, '$.b')));",
      ),
    ).toThrow(/generated column "app" changed/)
    expect(() => a.applySchema('CREATE TABLE t (id INTEGER PRIMARY KEY, meta TEXT);')).toThrow(
      /generated column "app" removed/,
    )
  })
})
