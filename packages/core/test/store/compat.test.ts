import { afterEach, describe, expect, it } from 'vitest'
import { engines } from '../helpers.js'

const SCHEMA = 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);'

describe('cr-sqlite compatibility names', () => {
  let env: ReturnType<typeof engines> | undefined
  afterEach(() => env?.cleanup())

  it('crsql_site_id (ordinal 0 = this node), crsql_site_id() and crsql_db_version() answer in queries', () => {
    env = engines()
    const a = env.open(SCHEMA)
    const b = env.open(SCHEMA)
    const hex = a.actorId.replace(/-/g, '').toUpperCase()
    expect([...a.query('SELECT hex(site_id) FROM crsql_site_id WHERE ordinal = 0').rows]).toEqual([[hex]])
    expect([...a.query('SELECT hex(crsql_site_id()), crsql_db_version()').rows]).toEqual([[hex, 0]])
    a.transaction([{ sql: "INSERT INTO t VALUES (1, 'x')" }])
    a.transaction([{ sql: "INSERT INTO t VALUES (2, 'y')" }])
    expect([...a.query('SELECT crsql_db_version()').rows]).toEqual([[2]])
    // A site this node learned about appears with its own ordinal.
    b.apply(a.transaction([{ sql: "INSERT INTO t VALUES (3, 'z')" }]).changesets)
    const sites = [...b.query('SELECT ordinal, hex(site_id) FROM crsql_site_id ORDER BY ordinal').rows]
    expect(sites[0]).toEqual([0, b.actorId.replace(/-/g, '').toUpperCase()])
    expect(sites.slice(1).map((r) => r[1])).toEqual([hex])
    // A renewed actor id: ordinal 0 follows it, the old one is one more site.
    const old = b.actorId.replace(/-/g, '').toUpperCase()
    const fresh = b.renewActor().replace(/-/g, '').toUpperCase()
    const after = [...b.query('SELECT ordinal, hex(site_id) FROM crsql_site_id ORDER BY ordinal').rows]
    expect(after[0]).toEqual([0, fresh])
    expect(
      after
        .slice(1)
        .map((r) => r[1])
        .sort(),
    ).toEqual([hex, old].sort())
    expect([...b.query('SELECT hex(crsql_site_id())').rows]).toEqual([[fresh]])
  })

  it('is read-only: writes to crsql_site_id are refused, and nothing is stored', () => {
    env = engines()
    const a = env.open(SCHEMA)
    expect(() => a.transaction([{ sql: 'DELETE FROM crsql_site_id' }])).toThrow()
    expect(() => a.transaction([{ sql: "INSERT INTO crsql_site_id VALUES (9, x'00')" }])).toThrow()
    expect(() => a.query('DELETE FROM crsql_site_id')).toThrow(/table crsql_site_id may not be modified/)
    expect([...a.query("SELECT count(*) FROM sqlite_schema WHERE name = 'crsql_site_id'").rows]).toEqual([
      [0],
    ])
  })
})
