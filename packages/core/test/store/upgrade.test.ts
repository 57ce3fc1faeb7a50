import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createStateEngine, type StateEngine } from '../../src/index.js'

/**
 * Databases written by the code of e8b6123 (`fixtures/e8b6123/`, made by `make-e8b6123.ts`):
 * changeset format 1 in the buffer of partly received versions, integers captured as plain
 * numbers, an adopted table whose rows never got clocks. The current code opens them and they
 * keep replicating.
 */
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'e8b6123')
const SCHEMA = `
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER NOT NULL DEFAULT 0, data BLOB);
CREATE TABLE u (id INTEGER PRIMARY KEY, v);
CREATE TABLE r (k REAL PRIMARY KEY, v TEXT);
CREATE TABLE pairs (a TEXT NOT NULL, b INTEGER NOT NULL, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
CREATE TABLE adopted (id INTEGER PRIMARY KEY, note TEXT);
`
const A = '00000000-0000-4000-8000-00000000000a'
const B = '00000000-0000-4000-8000-00000000000b'

/** Every cell of every table as `typeof:quote`, compared in SQL (never as JSON). */
function cells(e: StateEngine): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const [t, cols, order] of [
    ['items', ['id', 'name', 'qty', 'data'], 'id'],
    ['u', ['id', 'v'], 'id'],
    ['r', ['k', 'v'], 'k'],
    ['pairs', ['a', 'b', 'v'], 'a, b'],
    ['adopted', ['id', 'note'], 'id'],
  ] as const) {
    const expr = cols.map((c) => `typeof(${c}) || ':' || quote(${c})`).join(` || ' ' || `)
    out[t] = [...e.query(`SELECT ${expr} FROM ${t} ORDER BY ${order}`).rows].map((r) => String(r[0]))
  }
  return out
}

function syncAll(...es: StateEngine[]): void {
  for (let round = 0; round < 3; round++)
    for (const from of es)
      for (const to of es) if (from !== to) to.apply([...from.changesFor(to.syncState())])
}

let dir: string
let opened: StateEngine[] = []
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'patina-upgrade-'))
  for (const n of ['a', 'b']) copyFileSync(join(FIXTURES, `${n}.sqlite`), join(dir, `${n}.sqlite`))
})
afterEach(() => {
  for (const e of opened) e.close()
  opened = []
  rmSync(dir, { recursive: true, force: true })
})
const open = (name: string) => {
  const e = createStateEngine({ path: join(dir, `${name}.sqlite`), schema: SCHEMA })
  opened.push(e)
  return e
}

describe('a database written by e8b6123 opens and keeps replicating', () => {
  it('opens with its identity, books and rows as they were', () => {
    const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
      b: { sync: unknown }
      a: { sync: { need: unknown; partialNeed: unknown } }
    }
    const a = open('a')
    const b = open('b')
    expect([a.actorId, b.actorId, a.actorCreated]).toEqual([A, B, false])
    expect(b.syncState()).toEqual(expected.b.sync)
    expect(a.syncState().need).toEqual(expected.a.sync.need)
    expect(a.syncState().partialNeed).toEqual(expected.a.sync.partialNeed)
    expect(cells(a)['items']).toContain(`integer:3 text:'big' integer:9007199254740993 null:NULL`)
    expect(cells(a)['r']).toEqual([`real:1.0 text:'integral real key'`, `real:2.5 text:'real key'`])
  })

  it('gives the rows the old code adopted without clocks one local version, which peers receive', () => {
    const a = open('a')
    const b = open('b')
    // e8b6123 adopted `adopted` with its rows but gave them no clock: they never left a.
    expect(cells(b)['adopted']).toEqual([])
    expect(a.stats().version).toBe(3)
    syncAll(a, b)
    expect(cells(b)['adopted']).toEqual([`integer:1 text:'was here before'`, `integer:2 text:'so was this'`])
    // once: reopening does not clock them again
    a.close()
    opened = opened.filter((e) => e !== a)
    expect(open('a').stats().version).toBe(3)
  })

  it('completes a version partly received in format 1 from chunks served in format 2, and converges', () => {
    const a = open('a')
    const b = open('b')
    syncAll(a, b)
    expect(a.stats()).toMatchObject({ gaps: 0, partials: 0 })
    expect(b.stats()).toMatchObject({ gaps: 0, partials: 0 })
    const ca = cells(a)
    const cb = cells(b)
    expect(ca['items']).toEqual(cb['items'])
    expect(ca['items']?.filter((c) => c.includes("'from b"))).toHaveLength(6)
    expect(ca['r']).toEqual(cb['r'])
    expect(ca['pairs']).toEqual(cb['pairs'])
    expect(ca['adopted']).toEqual(cb['adopted'])
    // What e8b6123 replicated with the wrong storage class stays as it was until written again:
    // u.id = 6 was INTEGER 6 on a, and b stored REAL 6.0 (docs/reliability.md, "Upgrading").
    expect(ca['u']?.filter((c) => !c.startsWith('integer:6 '))).toEqual(
      cb['u']?.filter((c) => !c.startsWith('integer:6 ')),
    )
    expect([ca['u']?.at(-2), cb['u']?.at(-2)]).toEqual(['integer:6 integer:6', 'integer:6 real:6.0'])
    // u.id = 1 was written again on b (7) after the old replication: exact everywhere now.
    expect(ca['u']?.[0]).toBe('integer:1 integer:7')
  })

  it('keeps replicating new writes both ways, exactly, and seeds a new node', () => {
    const a = open('a')
    const b = open('b')
    syncAll(a, b)
    b.apply(a.transaction([{ sql: 'UPDATE u SET v = 6.0 WHERE id = 6' }]).changesets)
    a.apply(b.transaction([{ sql: 'INSERT INTO u VALUES (10, 10), (11, 11.0)' }]).changesets)
    a.apply(b.transaction([{ sql: "INSERT OR REPLACE INTO r VALUES (1.0, 'replaced')" }]).changesets)
    expect(cells(a)).toEqual(cells(b))
    const c = createStateEngine({ path: ':memory:', schema: SCHEMA })
    opened.push(c)
    syncAll(a, b, c)
    expect(cells(c)).toEqual(cells(a))
    expect(cells(c)['u']).toContain('integer:11 real:11.0')
  })
})
