import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import type { PatinaError } from '@patina/api'
import {
  createStateEngine,
  packPk,
  type Changeset,
  type FullChangeset,
  type StateEngine,
  type StateEngineOptions,
} from '../../src/index.js'
import { exactRows } from '../exact.js'

/** One test (or a few) per item of issue 12: replicated data never diverges. */

let opened: StateEngine[] = []
const dirs: string[] = []
afterEach(() => {
  for (const e of opened) e.close()
  opened = []
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
const open = (schema: string, extra: Partial<StateEngineOptions> = {}): StateEngine => {
  const e = createStateEngine({ path: ':memory:', schema, ...extra })
  opened.push(e)
  return e
}
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'patina-safety-'))
  dirs.push(d)
  return d
}
const tx = (e: StateEngine, ...sql: string[]): FullChangeset[] =>
  e.transaction(sql.map((s) => ({ sql: s }))).changesets
const exchange = (x: StateEngine, y: StateEngine): void => {
  y.apply([...x.changesFor(y.syncState())])
  x.apply([...y.changesFor(x.syncState())])
}
const thrown = (fn: () => unknown): PatinaError => {
  try {
    fn()
  } catch (err) {
    return err as PatinaError
  }
  throw new Error('expected an error')
}

describe('1. storage classes survive replication', () => {
  const S = `CREATE TABLE t (id INTEGER PRIMARY KEY, u, b BLOB, r REAL, n NUMERIC, x TEXT);
    CREATE TABLE s (id INTEGER PRIMARY KEY, a ANY) STRICT;`
  const cells = (e: StateEngine) => [
    ...exactRows(e, 't', ['id', 'u', 'b', 'r', 'n', 'x'], 'id'),
    ...exactRows(e, 's', ['id', 'a'], 'id'),
  ]

  it('an untyped, BLOB or STRICT ANY column holds the same storage class on every node, for literals and bound values', () => {
    const a = open(S)
    const b = open(S)
    b.apply(
      a.transaction([
        { sql: 'INSERT INTO t VALUES (1, 5, 7, 5, 5.0, 5)' },
        { sql: 'INSERT INTO t VALUES (2, ?, ?, ?, ?, ?)', params: [5n, 6n, 5n, 5.0, 5.0] },
        { sql: 'INSERT INTO t VALUES (3, 5.0, 2.5, 1e999, ?, ?)', params: ['1e3', 42n] },
        { sql: 'INSERT INTO s VALUES (1, 5), (2, 5.0), (3, ?), (4, ?)', params: [7n, 7] },
      ]).changesets,
    )
    expect(cells(b)).toEqual(cells(a))
    expect(cells(a)).toEqual([
      "integer:1 | integer:5 | integer:7 | real:5.0 | integer:5 | text:'5'",
      "integer:2 | integer:5 | integer:6 | real:5.0 | integer:5 | text:'5.0'",
      "integer:3 | real:5.0 | real:2.5 | real:Inf | integer:1000 | text:'42'",
      'integer:1 | integer:5',
      'integer:2 | real:5.0',
      'integer:3 | integer:7',
      'integer:4 | real:7.0',
    ])
  })

  it('an UPDATE that changes only the storage class (INTEGER 1 to REAL 1.0) is captured and replicated', () => {
    const a = open(S)
    const b = open(S)
    b.apply(tx(a, 'INSERT INTO t (id, u) VALUES (1, 1)'))
    const up = tx(a, 'UPDATE t SET u = 1.0 WHERE id = 1')
    expect(up.flatMap((c) => c.changes).map((c) => [c.cid, c.val])).toEqual([['u', 1]])
    b.apply(up)
    expect(exactRows(b, 't', ['u'], 'id')).toEqual(['real:1.0'])
    expect(tx(a, 'UPDATE t SET u = 1.0 WHERE id = 1')).toEqual([])
  })

  it('concurrent writes of INTEGER 1 and REAL 1.0 to one cell converge to one class on both nodes', () => {
    const a = open(S)
    const b = open(S)
    b.apply(tx(a, 'INSERT INTO t (id, u) VALUES (1, 0)'))
    const ca = tx(a, 'UPDATE t SET u = 1 WHERE id = 1')
    const cb = tx(b, 'UPDATE t SET u = 1.0 WHERE id = 1')
    a.apply(cb)
    b.apply(ca)
    expect(cells(a)).toEqual(cells(b))
    // SQLite orders 1 and 1.0 as equal; the merge orders the INTEGER first, so the REAL wins.
    expect(exactRows(a, 't', ['u'], 'id')).toEqual(['real:1.0'])
  })

  it('64-bit integers replicate exactly, as values and as keys', () => {
    const a = open(S)
    const b = open(S)
    const big = 2n ** 63n - 1n
    b.apply(
      a.transaction([
        { sql: 'INSERT INTO t (id, u, n) VALUES (?, ?, ?)', params: [big, -(2n ** 63n), 2n ** 53n + 1n] },
        { sql: 'INSERT INTO t (id, u) VALUES (9007199254740993, 9007199254740993)' },
      ]).changesets,
    )
    expect(cells(b)).toEqual(cells(a))
    expect(exactRows(b, 't', ['id', 'u', 'n'], 'id')).toEqual([
      'integer:9007199254740993 | integer:9007199254740993 | null:NULL',
      'integer:9223372036854775807 | integer:-9223372036854775808 | integer:9007199254740993',
    ])
  })

  it('an integral REAL key in a column without affinity is refused naming table and column; other keys replicate with their class', () => {
    const K = 'CREATE TABLE k (id PRIMARY KEY, v) WITHOUT ROWID; CREATE TABLE r (id REAL PRIMARY KEY, v);'
    const a = open(K)
    const b = open(K)
    const err = thrown(() => tx(a, 'INSERT INTO k VALUES (5.0, 1)'))
    expect(err.code).toBe('PATINA_ERR_STATEMENT_REFUSED')
    expect(err.message).toMatch(
      /table "k": primary key column "id" has no type affinity and cannot hold the REAL value 5\.0/,
    )
    b.apply(tx(a, "INSERT INTO k VALUES (5, 'int'), (5.5, 'real'), ('5', 'text'), (x'05', 'blob')"))
    b.apply(tx(a, "INSERT INTO r VALUES (5, 'five'), (5.5, 'five and a half')"))
    expect(exactRows(b, 'k', ['id', 'v'], 'id')).toEqual(exactRows(a, 'k', ['id', 'v'], 'id'))
    expect(exactRows(b, 'r', ['id', 'v'], 'id')).toEqual([
      "real:5.0 | text:'five'",
      "real:5.5 | text:'five and a half'",
    ])
    // a key with an affinity takes an integral REAL: one row with its INTEGER twin, as in SQLite
    b.apply(tx(a, "UPDATE r SET v = 'again' WHERE id = 5"))
    expect(exactRows(b, 'r', ['id', 'v'], 'id')[0]).toBe("real:5.0 | text:'again'")
  })
})

describe('3. keys compare as BINARY', () => {
  it.each([
    ['a column collation', 'CREATE TABLE t (id TEXT COLLATE NOCASE PRIMARY KEY, v TEXT);', 'id', 'NOCASE'],
    [
      'a key clause collation',
      'CREATE TABLE t (a TEXT, b TEXT, PRIMARY KEY (a, b COLLATE RTRIM)) WITHOUT ROWID;',
      'b',
      'RTRIM',
    ],
  ])(
    'a primary key with %s is refused at schema load, naming table, column and rule',
    (_what, schema, col, coll) => {
      const err = thrown(() => createStateEngine({ path: ':memory:', schema }))
      expect(err.code).toBe('PATINA_ERR_SCHEMA_INVALID')
      expect(err.message).toContain(
        `table "t": primary key column "${col}" uses COLLATE ${coll}; key columns must compare as BINARY`,
      )
    },
  )

  it('keys that differ only by case are two rows on every node (BINARY keys, other columns may use any collation)', () => {
    const S = 'CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT COLLATE NOCASE);'
    const a = open(S)
    const b = open(S)
    const ca = tx(a, "INSERT INTO t VALUES ('xyz', 'from a')")
    const cb = tx(b, "INSERT INTO t VALUES ('XYZ', 'from b')")
    a.apply(cb)
    b.apply(ca)
    expect(exactRows(a, 't', ['id', 'v'], 'id')).toEqual(exactRows(b, 't', ['id', 'v'], 'id'))
    expect(exactRows(a, 't', ['id'], 'id')).toEqual(["text:'XYZ'", "text:'xyz'"])
  })
})

describe('4. no merge builds a row SQLite refuses, and no refused changeset is retried forever', () => {
  it('a CHECK reading two columns is refused at schema load, naming the columns and the rule', () => {
    const err = thrown(() =>
      createStateEngine({
        path: ':memory:',
        schema:
          'CREATE TABLE c (id INTEGER PRIMARY KEY, lo INTEGER DEFAULT 0, hi INTEGER DEFAULT 10, CHECK (lo <= hi));',
      }),
    )
    expect(err.message).toContain(
      'table "c": CHECK (lo <= hi) reads columns "lo", "hi"; a CHECK may read one column only',
    )
    // also when written on a column, and with the other column hidden in a function call
    expect(() =>
      createStateEngine({
        path: ':memory:',
        schema: 'CREATE TABLE c (id INTEGER PRIMARY KEY, lo INTEGER CHECK (max(lo, hi) < 100), hi INTEGER);',
      }),
    ).toThrow(/reads columns "lo", "hi"/)
  })

  it('a column whose default fails its own CHECK is refused', () => {
    expect(() =>
      createStateEngine({
        path: ':memory:',
        schema: 'CREATE TABLE c (id INTEGER PRIMARY KEY, v INTEGER DEFAULT 0 CHECK (v > 0));',
      }),
    ).toThrow(/column "v": its default \(0\) fails CHECK \(v > 0\)/)
    expect(() =>
      createStateEngine({
        path: ':memory:',
        schema: 'CREATE TABLE c (id INTEGER PRIMARY KEY, v TEXT CHECK (v IS NOT NULL));',
      }),
    ).toThrow(/its default \(NULL\) fails CHECK/)
  })

  it('single-column CHECKs are allowed, and concurrent writes under them converge', () => {
    const S =
      'CREATE TABLE c (id INTEGER PRIMARY KEY, lo INTEGER DEFAULT 0 CHECK (lo >= 0), hi INTEGER DEFAULT 10 CHECK (hi <= 100));'
    const a = open(S)
    const b = open(S)
    b.apply(tx(a, 'INSERT INTO c VALUES (1, 0, 10)'))
    const ca = tx(a, 'UPDATE c SET lo = 8 WHERE id = 1')
    const cb = tx(b, 'UPDATE c SET hi = 5 WHERE id = 1')
    expect(a.apply(cb).refused).toEqual([])
    expect(b.apply(ca).refused).toEqual([])
    expect(exactRows(a, 'c', ['lo', 'hi'], 'id')).toEqual(['integer:8 | integer:5'])
    expect(exactRows(b, 'c', ['lo', 'hi'], 'id')).toEqual(['integer:8 | integer:5'])
  })

  it('a version this node cannot apply is refused alone, held back (not asked for, not applied) until its retry time, then tried again', () => {
    let now = 1_700_000_000_000
    const S = 'CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER) STRICT;'
    const a = open(S)
    const b = open(S, { clock: { now: () => now } })
    const good = tx(a, 'INSERT INTO t VALUES (1, 1)')
    // A changeset no honest node with this schema sends: TEXT into a STRICT INTEGER column (what
    // a node with another schema, or a bug, could send). SQLite refuses the row here.
    const bad: FullChangeset = {
      kind: 'full',
      actorId: '00000000-0000-4000-8000-0000000000ff',
      version: 1,
      ts: 1,
      seqStart: 0,
      seqEnd: 1,
      lastSeq: 1,
      changes: [
        { table: 't', pk: packPk([2n]), cid: '-1', val: null, colVersion: 1, cl: 1, seq: 0 },
        { table: 't', pk: packPk([2n]), cid: 'v', val: 'text', colVersion: 1, cl: 1, seq: 1 },
      ],
    }
    const res = b.apply([bad, ...good])
    expect(res.refused).toEqual([
      expect.objectContaining({ version: 1, code: 'SQLITE_CONSTRAINT_DATATYPE', first: true }),
    ])
    expect(res.versions).toEqual([{ actorId: a.actorId, version: 1 }])
    expect(b.stats()).toMatchObject({ gaps: 1, refused: 1 })
    expect(b.syncState().need).toEqual({})
    // while held: the same changeset is ignored, not failed again
    expect(b.apply([bad])).toMatchObject({ refused: [], ignored: 2 })
    expect(b.refused()[0]).toMatchObject({ attempts: 1, retryAtMs: now + 60_000 })
    // due: asked for again, tried again, refused again (not reported as new), backing off further
    now += 60_001
    expect(b.syncState().need).toEqual({ [bad.actorId]: [[1, 1]] })
    expect(b.apply([bad]).refused).toEqual([expect.objectContaining({ version: 1, first: false })])
    expect(b.refused()[0]).toMatchObject({ attempts: 2, retryAtMs: now + 120_000 })
    // an honest version of that actor clears it
    const fixed = { ...bad, changes: [bad.changes[0]!, { ...bad.changes[1]!, val: 2n }] }
    now += 120_001
    expect(b.apply([fixed])).toMatchObject({ refused: [], versions: [{ actorId: bad.actorId, version: 1 }] })
    expect(b.stats()).toMatchObject({ gaps: 0, refused: 0 })
  })
})

describe('5. a node restarted from an older copy of its database never issues a version twice', () => {
  const S = 'CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT, y TEXT);'
  it('gets back from a peer the versions of its own actor beyond its head, and continues after them', () => {
    const dir = tmp()
    const p = join(dir, 'a.db')
    let a = createStateEngine({ path: p, schema: S })
    const b = open(S)
    b.apply(tx(a, "INSERT INTO t VALUES (1, 'v1', 'v1')"))
    a.close()
    copyFileSync(p, join(dir, 'old.db'))
    a = createStateEngine({ path: p, schema: S })
    b.apply(tx(a, "UPDATE t SET x = 'v2' WHERE id = 1"))
    a.close()
    rmSync(`${p}-wal`, { force: true })
    rmSync(`${p}-shm`, { force: true })
    copyFileSync(join(dir, 'old.db'), p)
    a = createStateEngine({ path: p, schema: S })
    opened.push(a)
    expect([a.actorCreated, a.stats().version]).toEqual([false, 1])
    const back = a.apply([...b.changesFor(a.syncState())])
    expect(back.versions).toEqual([{ actorId: a.actorId, version: 2 }])
    expect(a.stats().version).toBe(2)
    const r3 = a.transaction([{ sql: "UPDATE t SET y = 'after' WHERE id = 1" }])
    expect(r3.version).toBe(3)
    b.apply(r3.changesets)
    expect(exactRows(a, 't', ['x', 'y'], 'id')).toEqual(["text:'v2' | text:'after'"])
    expect(exactRows(b, 't', ['x', 'y'], 'id')).toEqual(exactRows(a, 't', ['x', 'y'], 'id'))
  })

  it('renewActor gives a new actor id; the old actor becomes one more actor, served and completed like any other', () => {
    const a = open(S)
    const b = open(S)
    const old = a.actorId
    b.apply(tx(a, "INSERT INTO t VALUES (1, 'old', NULL)"))
    const fresh = a.renewActor()
    expect(fresh).not.toBe(old)
    expect([a.actorId, a.actorCreated, a.stats().version]).toEqual([fresh, true, 0])
    const w = a.transaction([{ sql: "UPDATE t SET y = 'new' WHERE id = 1" }])
    expect([w.version, w.actorId]).toEqual([1, fresh])
    b.apply(w.changesets)
    const c = open(S)
    c.apply([...a.changesFor(c.syncState())])
    expect(c.syncState().heads).toEqual({ [old]: 1, [fresh]: 1 })
    expect(exactRows(c, 't', ['x', 'y'], 'id')).toEqual(["text:'old' | text:'new'"])
  })
})

describe('6. client SQL cannot reach internal functions or tables', () => {
  const S = 'CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);'
  it('refuses calling the capture function, by its old name or by its real per-engine name, and reading the temp schema that holds it, in transactions and queries', () => {
    const a = open(S)
    const b = open(S)
    b.apply(tx(a, "INSERT INTO t VALUES (1, 'one')"))
    // the triggers (and so the function's per-engine name) live in the writer's temp schema
    expect(() => a.query('SELECT sql FROM sqlite_temp_master')).toThrow(/temp database/)
    expect(() => tx(a, 'INSERT INTO t SELECT 9, sql FROM sqlite_temp_master')).toThrow(/temp database/)
    expect(() => tx(a, "SELECT __patina_capture(1, 3, 1, 'one')")).toThrow(/no such function/)
    // even knowing the name (here: read from the engine itself), it is refused
    const name = (a as unknown as { capture: { functionName: string } }).capture.functionName
    expect(name).toMatch(/^__patina_capture_[0-9a-f]{16}$/)
    for (const sql of [
      `SELECT ${name}(1, 3, 1, 'one')`,
      `INSERT INTO t SELECT 2, ${name}(1, 1, 2, 'ghost')`,
      `WITH x AS (SELECT ${name}(1, 1, 2, 'ghost') AS g) UPDATE t SET x = (SELECT g FROM x)`,
    ]) {
      const err = thrown(() => tx(a, sql))
      expect(err.code, sql).toBe('PATINA_ERR_STATEMENT_REFUSED')
      expect(err.message, sql).toContain(`calls internal function ${name}`)
      expect(() => a.query(sql), sql).toThrow(/internal function|not readonly/)
    }
    expect(exactRows(a, 't', ['id', 'x'], 'id')).toEqual(exactRows(b, 't', ['id', 'x'], 'id'))
    expect(a.stats().version).toBe(1)
  })

  it('refuses reading internal tables in queries and in transactions; text that merely names them is fine', () => {
    const a = open(S)
    for (const sql of [
      'SELECT key FROM __patina_meta',
      'SELECT count(*) FROM __patina_clock_t',
      'SELECT x FROM t WHERE id IN (SELECT ord FROM __patina_sites)',
    ]) {
      expect(() => a.query(sql), sql).toThrow(/uses __patina_\w+: Patina's internal tables/)
      const err = thrown(() => tx(a, `INSERT INTO t (x) ${sql}`))
      expect([err.code, err.message], sql).toEqual([
        'PATINA_ERR_STATEMENT_REFUSED',
        expect.stringMatching(/^statement 0: uses __patina_\w+: Patina's internal tables/),
      ])
    }
    expect([...a.query("SELECT '__patina_meta', '__patina_capture(1)'").rows]).toEqual([
      ['__patina_meta', '__patina_capture(1)'],
    ])
    tx(a, "INSERT INTO t VALUES (1, '__patina_capture(1, 3)')")
    expect(exactRows(a, 't', ['x'], 'id')).toEqual(["text:'__patina_capture(1, 3)'"])
  })
})

describe('7. rows of an adopted table replicate', () => {
  it('rows already in a table when Patina adopts it get clocks as one local version, which a peer receives by sync', () => {
    const dir = tmp()
    const p = join(dir, 'a.db')
    const raw = new Database(p)
    raw.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT); INSERT INTO t VALUES (1, 'pre'), (2, 5.5)")
    raw.close()
    const a = createStateEngine({ path: p })
    opened.push(a)
    const r = a.applySchema('CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);')
    expect(r).toMatchObject({ tablesAdopted: ['t'], version: 1 })
    const b = open('CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);')
    b.apply(tx(a, "INSERT INTO t VALUES (3, 'new')"))
    b.apply([...a.changesFor(b.syncState())])
    expect(exactRows(b, 't', ['id', 'x'], 'id')).toEqual(exactRows(a, 't', ['id', 'x'], 'id'))
    expect(exactRows(b, 't', ['x'], 'id')).toEqual(["text:'pre'", "text:'5.5'", "text:'new'"])
  })

  it('an existing table whose own constraints break the rules is not adopted', () => {
    const dir = tmp()
    const p = join(dir, 'a.db')
    const raw = new Database(p)
    raw.exec('CREATE TABLE c (id INTEGER PRIMARY KEY, lo INTEGER, hi INTEGER, CHECK (lo <= hi))')
    raw.close()
    const a = createStateEngine({ path: p })
    opened.push(a)
    // the schema file leaves the CHECK out, but SQLite enforces the table's own
    expect(() => a.applySchema('CREATE TABLE c (id INTEGER PRIMARY KEY, lo INTEGER, hi INTEGER);')).toThrow(
      /CHECK \(lo <= hi\) reads columns "lo", "hi"/,
    )
    expect(a.schema().tables.has('c')).toBe(false)
  })
})

describe('9. read-your-writes waits for every earlier version of the actor', () => {
  it('containsThrough(actor, N) is false while any version up to N is missing or partial', () => {
    const S = "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, status TEXT DEFAULT 'new');"
    const a = open(S, { maxChunkBytes: 60 })
    const b = open(S)
    const w1 = tx(a, "INSERT INTO orders VALUES (1, 'alice', 'new')")
    const w2 = tx(a, "UPDATE orders SET status = 'paid' WHERE id = 1")
    const w3 = tx(a, "INSERT INTO orders VALUES (2, 'bob', 'new'), (3, 'carol', 'new')")
    expect(w3.length).toBeGreaterThan(1)
    b.apply([...w2, ...(w3.slice(1) as Changeset[])])
    expect([b.contains(a.actorId, 2), b.containsThrough(a.actorId, 2)]).toEqual([true, false])
    b.apply(w1)
    expect([b.containsThrough(a.actorId, 2), b.containsThrough(a.actorId, 3)]).toEqual([true, false])
    b.apply(w3.slice(0, 1))
    expect(b.containsThrough(a.actorId, 3)).toBe(true)
    expect(b.containsThrough(a.actorId, 4)).toBe(false)
    expect(b.containsThrough('00000000-0000-4000-8000-000000000000', 1)).toBe(false)
  })
})

describe('10. REPLACE is a delete and an insert, as in Corrosion', () => {
  const S = 'CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT, y TEXT);'
  it('an INSERT OR REPLACE racing a DELETE keeps the row: the replace starts a newer life', () => {
    const a = open(S)
    const b = open(S)
    b.apply(tx(a, "INSERT INTO t VALUES (1, 'v0', 'v0')"))
    const ra = tx(a, "INSERT OR REPLACE INTO t VALUES (1, 'replaced', NULL)")
    expect(ra.flatMap((c) => c.changes).map((c) => [c.cid, c.cl, c.colVersion])).toEqual([
      ['-1', 3, 3],
      ['x', 3, 1],
      ['y', 3, 1],
    ])
    const rb = tx(b, 'DELETE FROM t WHERE id = 1')
    a.apply(rb)
    b.apply(ra)
    for (const e of [a, b])
      expect(exactRows(e, 't', ['id', 'x', 'y'], 'id')).toEqual(["integer:1 | text:'replaced' | null:NULL"])
  })

  it('a REPLACE resets cells a concurrent UPDATE of the old life wrote', () => {
    const a = open(S)
    const b = open(S)
    b.apply(tx(a, "INSERT INTO t VALUES (1, 'a', 'a')"))
    const ra = tx(a, "INSERT OR REPLACE INTO t VALUES (1, 'r', 'a')")
    const ub = tx(b, "UPDATE t SET y = 'B' WHERE id = 1")
    a.apply(ub)
    b.apply(ra)
    for (const e of [a, b]) expect(exactRows(e, 't', ['x', 'y'], 'id')).toEqual(["text:'r' | text:'a'"])
  })

  it('UPDATE OR REPLACE onto an existing key, and DELETE then INSERT in one transaction, start a new life of that row', () => {
    const a = open(S)
    const b = open(S)
    b.apply(tx(a, "INSERT INTO t VALUES (1, 'one', NULL), (2, 'two', NULL)"))
    const moved = tx(a, 'UPDATE OR REPLACE t SET id = 2 WHERE id = 1')
    const sentinels = moved.flatMap((c) => c.changes).filter((c) => c.cid === '-1')
    expect(sentinels.map((c) => c.cl).sort()).toEqual([2, 3])
    const again = tx(a, 'DELETE FROM t WHERE id = 2', "INSERT INTO t VALUES (2, 'fresh', NULL)")
    expect(again.flatMap((c) => c.changes).find((c) => c.cid === '-1')?.cl).toBe(5)
    b.apply([...moved, ...again])
    expect(exactRows(b, 't', ['id', 'x'], 'id')).toEqual(["integer:2 | text:'fresh'"])
    exchange(a, b)
    expect(exactRows(a, 't', ['id', 'x'], 'id')).toEqual(exactRows(b, 't', ['id', 'x'], 'id'))
  })
})
