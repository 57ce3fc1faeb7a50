import type { PatinaError } from '@patina/api'
import Database from 'better-sqlite3'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  createStateEngine,
  encodeChangeset,
  type Changeset,
  type FullChangeset,
  type StateEngine,
  type SyncState,
} from '../../src/index.js'

/**
 * Golden record of the store: the exact bytes it writes (every table, every clock and
 * version-index blob) and every answer it gives (transaction and apply results, changesets,
 * sync state, `changesFor`) for one fixed scenario with fixed actor ids and a fixed clock.
 * It was recorded before the store was split into modules, so it proves the split changed
 * neither the storage format nor any answer; a database written before opens after.
 *
 * A deliberate format change re-records it: `PATINA_UPDATE_GOLDEN=1 pnpm exec vitest run
 * --project core packages/core/test/store/golden.test.ts`, and say why in the commit.
 */
const GOLDEN = join(import.meta.dirname, 'golden.json')

const SCHEMA = `
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER NOT NULL DEFAULT 0, data BLOB);
CREATE TABLE pairs (a TEXT NOT NULL, b INTEGER NOT NULL, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
`
const ACTORS = {
  a: '00000000-0000-4000-8000-00000000000a',
  b: '00000000-0000-4000-8000-00000000000b',
  c: '00000000-0000-4000-8000-00000000000c',
} as const

const dir = mkdtempSync(join(tmpdir(), 'patina-golden-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Opens an engine whose actor id is fixed by seeding `__patina_meta` before the first open. */
function open(name: keyof typeof ACTORS, maxChunkBytes?: number): StateEngine {
  const path = join(dir, `${name}.sqlite`)
  if (!existsSync(path)) {
    const db = new Database(path)
    db.exec(`CREATE TABLE __patina_meta (key TEXT PRIMARY KEY, value ANY) WITHOUT ROWID`)
    db.prepare(`INSERT INTO __patina_meta (key, value) VALUES ('actor_id', ?), ('db_version', 0)`).run(
      ACTORS[name],
    )
    db.close()
  }
  let ms = 1_700_000_000_000
  return createStateEngine({
    path,
    schema: SCHEMA,
    clock: { now: () => (ms += 7) },
    ...(maxChunkBytes === undefined ? {} : { maxChunkBytes }),
  })
}

/** Every user and internal table of a database file, rows in key order, blobs as hex. */
function dumpFile(path: string): Record<string, unknown[]> {
  const db = new Database(path, { readonly: true })
  try {
    const out: Record<string, unknown[]> = {}
    const tables = db
      .prepare(
        `SELECT name, sql FROM sqlite_schema WHERE type IN ('table', 'index') AND sql NOT NULL ORDER BY name`,
      )
      .all() as { name: string; sql: string }[]
    out['(schema)'] = tables.map((t) => t.sql)
    for (const { name, sql } of tables) {
      if (!sql.startsWith('CREATE TABLE')) continue
      const rows = db.prepare(`SELECT * FROM "${name}"`).raw(true).safeIntegers(true).all() as unknown[][]
      out[name] = rows
        .map((r) => r.map(plain))
        .sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1))
    }
    return out
  } finally {
    db.close()
  }
}

function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return `${v}n`
  if (v instanceof Uint8Array) return `x'${Buffer.from(v).toString('hex')}'`
  if (Array.isArray(v)) return v.map(plain)
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
  }
  return v
}

/** Changesets as their wire bytes: any difference in content or order shows. */
const wire = (cs: readonly Changeset[]): string[] =>
  cs.map((c) => Buffer.from(encodeChangeset(c)).toString('hex'))
const empty = (actorId: string): SyncState => ({ actorId, heads: {}, need: {}, partialNeed: {} })

function scenario(): Record<string, unknown> {
  const log: Record<string, unknown> = {}
  let a = open('a', 120)
  let b = open('b')
  const c = open('c')
  const tx = (e: StateEngine, sql: string[], label: string) => {
    const r = e.transaction(sql.map((s) => ({ sql: s })))
    log[label] = {
      version: r.version,
      results: r.results.map((x) => x.rowsAffected),
      changesets: wire(r.changesets),
    }
    return r.changesets
  }
  const apply = (e: StateEngine, cs: Changeset[], label: string) => {
    log[label] = e.apply(cs)
  }

  const v1 = tx(
    a,
    [
      `INSERT INTO items (id, name, qty, data) VALUES (1, 'one', 1, x'01ff'), (2, 'two', 2, NULL), (3, 'three', 3, x'')`,
      `INSERT INTO items (id, name, qty) VALUES (5, 'big', 9007199254740995)`,
      `INSERT INTO pairs (a, b, v) VALUES ('k', 1, 'p'), ('k', 2, NULL)`,
    ],
    'a1',
  )
  const v2 = tx(
    a,
    [`UPDATE items SET name = 'uno', qty = qty + 10 WHERE id = 1`, `DELETE FROM items WHERE id = 2`],
    'a2',
  )
  const v3 = tx(
    a,
    [`INSERT INTO items (id, name) VALUES (2, 'two again')`, `UPDATE pairs SET v = 'q' WHERE b = 2`],
    'a3',
  )
  const v4 = tx(
    a,
    [`UPDATE items SET id = 4 WHERE id = 3`, `REPLACE INTO pairs (a, b, v) VALUES ('k', 1, 'r')`],
    'a4',
  )
  log['a-noop'] = tx(a, [`UPDATE items SET name = name WHERE id = 1`], 'a5').length

  // b: every chunk of v1 but the first (buffered, partial), then v3 and v4 (a gap at v2).
  apply(b, v1.slice(1), 'b-partial')
  apply(b, [...v3, ...v4], 'b-gap')
  log['b-state-1'] = b.syncState()
  // Concurrent writes on b: same cells as a, delete of a row a updated.
  tx(b, [`UPDATE items SET name = 'zz', qty = 5 WHERE id = 1`, `DELETE FROM pairs WHERE b = 1`], 'b1')
  // Reopen both: bookkeeping and buffered chunks come back from disk.
  a.close()
  b.close()
  a = open('a', 120)
  b = open('b')
  apply(b, [...v1.slice(0, 1), ...v2], 'b-complete')
  log['b-state-2'] = b.syncState()
  // Anti-entropy: a learns from b, c learns everything from a and b, in small chunks.
  apply(a, [...b.changesFor(a.syncState())], 'a-sync')
  const fromA = [...a.changesFor(c.syncState(), { maxChunkBytes: 90 })]
  const fromB = [...b.changesFor(c.syncState())]
  log['serve-a'] = wire(fromA)
  log['serve-b'] = wire(fromB)
  apply(c, [...fromB, ...fromA], 'c-sync')
  log['serve-a-empty'] = wire([...a.changesFor(empty(ACTORS.c))])
  // Overwrite everything of v1 on a: serving v1 then answers "cleared" for it.
  tx(a, [`DELETE FROM items`, `DELETE FROM pairs`], 'a-clear')
  log['serve-a-cleared'] = wire([...a.changesFor(empty(ACTORS.c))])
  const clear = [...a.changesFor(c.syncState())]
  // c gets part of the clearing version (it stays partial, on disk), then a batch with a bad
  // version: that version alone is refused (held back, a gap), the rest of the batch applies.
  apply(c, clear.slice(1), 'c-partial')
  const bad = {
    ...(clear[0] as FullChangeset),
    version: 6,
    changes: [{ ...(clear[0] as FullChangeset).changes[0]!, table: 'nope' }],
  }
  try {
    apply(c, [clear[0] as FullChangeset, bad], 'c-bad')
  } catch (err) {
    log['c-bad'] = (err as PatinaError).code
  }
  log['c-state'] = c.syncState()
  log['stats'] = [a.stats(), b.stats(), c.stats()]
  log['contains'] = [b.contains(ACTORS.a, 2), c.contains(ACTORS.b, 1), c.contains(ACTORS.a, 9)]
  log['rows'] = [a, b, c].map((e) => [...e.query(`SELECT * FROM items ORDER BY id`).rows])
  for (const e of [a, b, c]) e.close()
  for (const n of ['a', 'b', 'c'] as const) log[`file-${n}`] = dumpFile(join(dir, `${n}.sqlite`))
  return plain(log) as Record<string, unknown>
}

describe('store golden record', () => {
  it('writes the same bytes and gives the same answers as the recorded store', () => {
    const got = scenario()
    if (process.env['PATINA_UPDATE_GOLDEN'] === '1')
      writeFileSync(GOLDEN, JSON.stringify(got, null, 1) + '\n')
    const want = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Record<string, unknown>
    expect(Object.keys(got)).toEqual(Object.keys(want))
    for (const k of Object.keys(want)) expect({ [k]: got[k] }).toEqual({ [k]: want[k] })
  })
})
