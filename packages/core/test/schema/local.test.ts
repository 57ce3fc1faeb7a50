import Database from 'better-sqlite3'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { isLocalTable, validateLocalTables } from '../../src/schema/local.js'
import { createStateEngine, type StateEngine } from '../../src/index.js'
import { engines } from '../helpers.js'

const SCHEMA =
  'CREATE TABLE consul_services (node TEXT NOT NULL, id TEXT NOT NULL, name TEXT, PRIMARY KEY (node, id)) WITHOUT ROWID;'

describe('local table patterns', () => {
  it.each([
    ['__corro_consul_services', ['__corro_consul_*'], true],
    ['__corro_consul_services', ['__corro_consul_services'], true],
    ['__corro_consul_servicesx', ['__corro_consul_services'], false],
    ['other', ['__corro_*'], false],
    ['__patina_meta', ['__*'], false],
    ['sqlite_sequence', ['s*'], false],
  ])('%s with %j → %s', (table, patterns, want) => {
    expect(isLocalTable(table, patterns)).toBe(want)
  })

  it('refuses patterns that could reach internal tables, or are malformed', () => {
    for (const p of ['__patina_meta', '__pat*', '__*', '*', 'sqlite_x', 'a*b*', '']) {
      expect(() => validateLocalTables([p]), p).toThrow(/db\.local_tables/)
    }
    expect(() => validateLocalTables(['__corro_consul_*', 'hashes'])).not.toThrow()
  })
})

describe('writes to local tables', () => {
  let env: ReturnType<typeof engines> | undefined
  const opened: StateEngine[] = []
  afterEach(() => {
    for (const e of opened.splice(0)) e.close()
    env?.cleanup()
  })

  it("writes a declared local table in the same transaction as replicated rows, replicating only the latter (consul sync's pattern)", () => {
    env = engines()
    const path = join(env.dir, 'a.db')
    const a = createStateEngine({ path, schema: SCHEMA, localTables: ['__corro_consul_*'] })
    opened.push(a)
    // The tool creates its own table directly in the database file, after Patina started.
    const tool = new Database(path)
    tool.exec(
      'CREATE TABLE IF NOT EXISTS __corro_consul_services (id TEXT NOT NULL PRIMARY KEY, hash BLOB NOT NULL)',
    )
    tool.close()
    const r = a.transaction([
      {
        sql: 'INSERT INTO __corro_consul_services (id, hash) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET hash = excluded.hash',
        params: ['web', new Uint8Array([1, 2])],
      },
      { sql: "INSERT INTO consul_services (node, id, name) VALUES ('n1', 'web', 'web')" },
    ])
    expect(r.version).toBe(1)
    const tables = new Set(
      r.changesets.flatMap((c) => (c.kind === 'full' ? c.changes.map((x) => x.table) : [])),
    )
    expect([...tables]).toEqual(['consul_services'])
    expect([...a.query('SELECT id, hex(hash) FROM __corro_consul_services').rows]).toEqual([['web', '0102']])
    const b = env.open(SCHEMA)
    b.apply(r.changesets)
    expect([...b.query('SELECT node, id, name FROM consul_services').rows]).toEqual([['n1', 'web', 'web']])
    // Local writes alone change no replicated state: no version.
    expect(
      a.transaction([{ sql: "DELETE FROM __corro_consul_services WHERE id = 'web'" }]).version,
    ).toBeNull()
  })

  it('still refuses undeclared tables and internal ones, naming the table and the rule', () => {
    env = engines()
    const path = join(env.dir, 'a.db')
    const a = createStateEngine({ path, schema: SCHEMA, localTables: ['mine'] })
    opened.push(a)
    const tool = new Database(path)
    tool.exec('CREATE TABLE other (id INTEGER PRIMARY KEY); CREATE TABLE mine (id INTEGER PRIMARY KEY)')
    tool.close()
    expect(() => a.transaction([{ sql: 'INSERT INTO other (id) VALUES (1)' }])).toThrow(
      /writes to "other" are not allowed: only replicated tables \(consul_services\) and tables declared in db.local_tables/,
    )
    expect(() =>
      a.transaction([{ sql: "UPDATE __patina_meta SET value = 1 WHERE key = 'db_version'" }]),
    ).toThrow(/not allowed/)
    expect(a.transaction([{ sql: 'INSERT INTO mine (id) VALUES (1)' }]).version).toBeNull()
    expect(() =>
      createStateEngine({ path: ':memory:', schema: SCHEMA, localTables: ['__patina_*'] }),
    ).toThrow(/could match internal tables/)
  })
})
