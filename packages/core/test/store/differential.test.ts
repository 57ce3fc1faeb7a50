import Database from 'better-sqlite3'
import type { SqlValue } from '@patina/api'
import { describe, expect, it } from 'vitest'
import {
  createStateEngine,
  decodeChangeset,
  encodeChangeset,
  type Changeset,
  type FullChangeset,
  type StateEngine,
  type Statement,
} from '../../src/index.js'
import { exactRows, LITERALS, VALUES } from '../exact.js'
import { mulberry32 } from '../../../../test/helpers/random.js'

/**
 * Differential test against SQLite itself. For each seed, a random sequence of write
 * transactions (literal SQL and bound parameters of every kind, as the HTTP API passes them:
 * bigint for JSON integers small and 64-bit, number for reals with and without fraction, 1n/0n
 * for booleans, Buffer for blobs, text that looks numeric, NULL) over tables of every column
 * affinity, STRICT tables, collations and defaults, goes one transaction after another to
 * different engines, each of which sends its changesets to the others (directly, through the
 * wire codec, in shuffled chunks, or by anti-entropy sync) before the next transaction. The same
 * transactions run on one plain SQLite database. Every transaction must succeed or fail alike
 * (with the same rows affected), and every engine must hold exactly what SQLite holds: the same
 * value and the same `typeof()` of every cell, compared in SQL (`exact.ts`).
 *
 * Replay one seed: PATINA_DIFF_SEED=<seed> pnpm exec vitest run --project core differential
 * More seeds:      PATINA_DIFF_SEEDS=<count>; PATINA_DIFF_BUDGET_MS=0 lifts the time budget.
 */

const SCHEMA = `
CREATE TABLE a (
  id INTEGER PRIMARY KEY, u, b BLOB, i INTEGER, r REAL, n NUMERIC, t TEXT,
  tn TEXT COLLATE NOCASE, tr TEXT COLLATE RTRIM, v VARCHAR(8), d DOUBLE PRECISION,
  dt TEXT DEFAULT 'dflt', di INTEGER NOT NULL DEFAULT 7, dr REAL DEFAULT 1.5,
  du DEFAULT (1 + 1), db BLOB DEFAULT x'00', dn NUMERIC DEFAULT '12'
);
CREATE TABLE s (k ANY PRIMARY KEY, x ANY, i INTEGER, r REAL DEFAULT 0.5, t TEXT COLLATE NOCASE, b BLOB, c ANY DEFAULT 'c') STRICT, WITHOUT ROWID;
CREATE TABLE si (id INTEGER PRIMARY KEY, x ANY, i INT DEFAULT 3, f REAL) STRICT;
CREATE TABLE w (k TEXT PRIMARY KEY, v, n NUMERIC DEFAULT 0, r REAL) WITHOUT ROWID;
CREATE TABLE c (a BLOB NOT NULL, b INTEGER NOT NULL, v REAL, x, PRIMARY KEY (a, b)) WITHOUT ROWID;
CREATE TABLE h (k INTEGER NOT NULL, s TEXT NOT NULL, v ANY, PRIMARY KEY (k, s));
`

interface TableSpec {
  name: string
  key: string[]
  cols: string[]
  /** Key values that SQLite and replication both accept (no integral REAL in a key without affinity). */
  keys: readonly (readonly SqlValue[])[]
}

const TABLES: readonly TableSpec[] = [
  {
    name: 'a',
    key: ['id'],
    cols: ['u', 'b', 'i', 'r', 'n', 't', 'tn', 'tr', 'v', 'd', 'dt', 'di', 'dr', 'du', 'db', 'dn'],
    keys: [[1n], [2n], [3n], [4n], [9007199254740993n], [-1n]],
  },
  {
    name: 's',
    key: ['k'],
    cols: ['x', 'i', 'r', 't', 'b', 'c'],
    keys: [[1n], [2n], ['k'], ['K'], [2.5], [Buffer.from([1])], ['1']],
  },
  { name: 'si', key: ['id'], cols: ['x', 'i', 'f'], keys: [[1n], [2n], [3n]] },
  { name: 'w', key: ['k'], cols: ['v', 'n', 'r'], keys: [['a'], ['A'], ['a '], ['1'], ['01']] },
  {
    name: 'c',
    key: ['a', 'b'],
    cols: ['v', 'x'],
    keys: [
      [Buffer.from([1]), 1n],
      [Buffer.from([1]), 2n],
      ['t', 1n],
      [7n, 1n],
    ],
  },
  {
    name: 'h',
    key: ['k', 's'],
    cols: ['v'],
    keys: [
      [1n, 'x'],
      [1n, 'X'],
      [2n, 'x'],
    ],
  },
]

const EXPRS = [
  '{c} * 1.0',
  '{c} + 1',
  'CAST({c} AS INTEGER)',
  'CAST({c} AS REAL)',
  'CAST({c} AS TEXT)',
  'CAST({c} AS BLOB)',
  "{c} || ''",
  'abs({c})',
  '-{c}',
  'coalesce({c}, 0)',
  'upper({c})',
  'NULL',
]

function statement(r: () => number): Statement {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T
  const t = pick(TABLES)
  const value = (): { sql: string; params: SqlValue[] } =>
    r() < 0.6 ? { sql: '?', params: [pick(VALUES)] } : { sql: pick(LITERALS), params: [] }
  const keyOf = () => pick(t.keys)
  const where = (): { sql: string; params: SqlValue[] } => {
    const x = r()
    if (x < 0.7) return { sql: t.key.map((k) => `${k} = ?`).join(' AND '), params: [...keyOf()] }
    // a predicate through the column's type and collation, as SQLite evaluates it
    const c = pick(t.cols)
    const v = value()
    return { sql: `${c} ${pick(['=', '<', '>', 'IS', 'IS NOT'])} ${v.sql}`, params: v.params }
  }
  const kind = r()
  if (kind < 0.35) {
    const cols = t.cols.filter(() => r() < 0.6)
    const vals = cols.map(value)
    const conflict = pick(['', 'OR IGNORE ', 'OR REPLACE ', 'OR REPLACE ', 'upsert'])
    const keyed = t.name !== 'a' || r() < 0.85
    const names = [...(keyed ? t.key : []), ...cols]
    const params = [...(keyed ? keyOf() : []), ...vals.flatMap((v) => v.params)]
    const placeholders = [...(keyed ? t.key.map(() => '?') : []), ...vals.map((v) => v.sql)]
    const head = `INSERT ${conflict === 'upsert' ? '' : conflict}INTO ${t.name} (${names.join(', ') || t.key[0]})`
    const body = names.length > 0 ? `VALUES (${placeholders.join(', ')})` : 'VALUES (NULL)'
    let tail = ''
    if (conflict === 'upsert') {
      tail =
        cols.length > 0 && r() < 0.8
          ? ` ON CONFLICT (${t.key.join(', ')}) DO UPDATE SET ${cols.map((c) => `${c} = excluded.${c}`).join(', ')}`
          : ` ON CONFLICT DO NOTHING`
    }
    return { sql: `${head} ${body}${tail}`, params }
  }
  if (kind < 0.75) {
    const c = pick(t.cols)
    const w = where()
    if (r() < 0.3) {
      const e = pick(EXPRS).replaceAll('{c}', c)
      return { sql: `UPDATE ${t.name} SET ${c} = ${e} WHERE ${w.sql}`, params: w.params }
    }
    const v = value()
    return { sql: `UPDATE ${t.name} SET ${c} = ${v.sql} WHERE ${w.sql}`, params: [...v.params, ...w.params] }
  }
  if (kind < 0.87) {
    const w = where()
    return { sql: `DELETE FROM ${t.name} WHERE ${w.sql}`, params: w.params }
  }
  if (kind < 0.95) {
    // a key change, onto a free key or replacing the row there
    const to = keyOf()
    const from = keyOf()
    return {
      sql: `UPDATE ${pick(['OR REPLACE ', 'OR IGNORE ', ''])}${t.name} SET ${t.key.map((k) => `${k} = ?`).join(', ')} WHERE ${t.key.map((k) => `${k} = ?`).join(' AND ')}`,
      params: [...to, ...from],
    }
  }
  // whole-table statements
  return pick<Statement>([
    { sql: `INSERT OR REPLACE INTO w (k, v, r) SELECT t, u, r FROM a WHERE t IS NOT NULL` },
    { sql: `INSERT OR IGNORE INTO h (k, s, v) SELECT id, coalesce(tn, 'x'), u FROM a` },
    { sql: `UPDATE a SET u = b, b = u` },
    { sql: `UPDATE s SET x = i * 1.0, i = x WHERE typeof(x) <> 'blob'` },
    { sql: `DELETE FROM c WHERE v > 1` },
    { sql: `UPDATE a SET n = t WHERE t IS NOT NULL` },
  ])
}

type Outcome = { ok: true; rows: number[] } | { ok: false; error: string }

function runReference(db: Database.Database, stmts: Statement[]): Outcome {
  db.exec('BEGIN')
  try {
    const rows = stmts.map((st) => {
      const p = db.prepare(st.sql)
      const args = (st.params as SqlValue[] | undefined) ?? []
      return p.reader ? p.all(...args).length : p.run(...args).changes
    })
    db.exec('COMMIT')
    return { ok: true, rows }
  } catch (err) {
    db.exec('ROLLBACK')
    return { ok: false, error: (err as Error).message }
  }
}

/** Sends `cs` to `to` in one of several ways (all complete): the deliveries real nodes see. */
function deliver(r: () => number, from: StateEngine, to: StateEngine, cs: FullChangeset[]): void {
  const way = Math.floor(r() * 4)
  const check = (res: { refused: unknown[] }) => expect(res.refused).toEqual([])
  if (way === 0) check(to.apply(cs))
  else if (way === 1) check(to.apply(cs.map((c) => decodeChangeset(encodeChangeset(c)))))
  else if (way === 2) {
    const shuffled = [...cs, ...cs.filter(() => r() < 0.3)].sort(() => r() - 0.5)
    for (const c of shuffled) check(to.apply([c as Changeset]))
  } else {
    for (const c of from.changesFor(to.syncState(), { maxChunkBytes: 60 + Math.floor(r() * 400) }))
      check(to.apply([c]))
  }
}

function snapshot(q: Pick<StateEngine, 'query'>): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const t of TABLES) out[t.name] = exactRows(q, t.name, [...t.key, ...t.cols], t.key.join(', '))
  return out
}

const asEngine = (db: Database.Database): Pick<StateEngine, 'query'> => ({
  query: (sql: string) => ({
    columns: [],
    rows: db.prepare(sql).raw(true).iterate() as IterableIterator<SqlValue[]>,
  }),
})

export function runSeed(seed: number, transactions = 40, engines = 3): void {
  const r = mulberry32(seed)
  const ref = new Database(':memory:')
  ref.exec(SCHEMA)
  const nodes = Array.from({ length: engines }, () => createStateEngine({ path: ':memory:', schema: SCHEMA }))
  const log: string[] = []
  try {
    for (let i = 0; i < transactions; i++) {
      const stmts = Array.from({ length: r() < 0.75 ? 1 : 2 + Math.floor(r() * 2) }, () => statement(r))
      const who = Math.floor(r() * engines)
      const node = nodes[who] as StateEngine
      log.push(
        `#${i} @${who} ${stmts.map((s) => `${s.sql} ${JSON.stringify(s.params ?? [], (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`).join(' ; ')}`,
      )
      const want = runReference(ref, stmts)
      let got: Outcome
      let changesets: FullChangeset[] = []
      try {
        const res = node.transaction(stmts)
        changesets = res.changesets
        got = { ok: true, rows: res.results.map((x) => x.rowsAffected) }
      } catch (err) {
        got = { ok: false, error: (err as Error).message }
      }
      const context = `seed ${seed} (replay: PATINA_DIFF_SEED=${seed}), transaction ${i}\n${log.slice(-8).join('\n')}`
      expect(got.ok, `${context}\nengine: ${JSON.stringify(got)}\nsqlite: ${JSON.stringify(want)}`).toBe(
        want.ok,
      )
      if (got.ok && want.ok) expect(got.rows, context).toEqual(want.rows)
      for (const other of nodes) if (other !== node) deliver(r, node, other, changesets)
      if (i % 10 === 9 || i === transactions - 1) {
        const expected = snapshot(asEngine(ref))
        nodes.forEach((n, k) =>
          expect(snapshot(n), `${context}\nengine ${k} differs from SQLite`).toEqual(expected),
        )
      }
    }
  } finally {
    for (const n of nodes) n.close()
    ref.close()
  }
}

const single = process.env['PATINA_DIFF_SEED']
const count = Number(process.env['PATINA_DIFF_SEEDS'] ?? 400)
const budgetMs = Number(process.env['PATINA_DIFF_BUDGET_MS'] ?? 45_000)
const MIN_SEEDS = 60

describe('differential test against SQLite', () => {
  it(`${single !== undefined ? `seed ${single}` : `up to ${count} seeds`}: engines exchanging changesets hold exactly what SQLite holds (values and typeof)`, () => {
    const seeds = single !== undefined ? [Number(single)] : Array.from({ length: count }, (_, i) => i + 1)
    const deadline = Date.now() + budgetMs
    let ran = 0
    for (const seed of seeds) {
      if (budgetMs > 0 && ran >= MIN_SEEDS && Date.now() > deadline) break
      runSeed(seed)
      ran++
    }
    process.stderr.write(`[differential] ${ran} seeds of 40 transactions on 3 engines, all equal to SQLite\n`)
    expect(ran).toBeGreaterThanOrEqual(Math.min(MIN_SEEDS, seeds.length))
  }, 600_000)
})
