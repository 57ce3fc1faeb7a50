/**
 * The seeded workload of the fault campaigns: inserts, updates, deletes, re-inserts and
 * multi-statement transactions over a small key space (so writes conflict), every written text
 * value a unique token (`w<op>.<stmt>`) so the checker can tell which write a cell came from.
 * Pure: the same seed gives the same operations.
 */
import { mulberry32 } from '../../helpers/random.js'

export const CHAOS_SCHEMA = `
CREATE TABLE kv (k INTEGER NOT NULL PRIMARY KEY, a TEXT, b TEXT, n INTEGER NOT NULL DEFAULT 0);
CREATE TABLE typed (k INTEGER NOT NULL PRIMARY KEY, u, bl BLOB, r REAL, num NUMERIC, t TEXT COLLATE NOCASE, i INTEGER, d DEFAULT 7);
CREATE TABLE typed_strict (k TEXT NOT NULL PRIMARY KEY, a ANY, i INTEGER, r REAL, t TEXT COLLATE RTRIM) STRICT;
`
/** The query every worker dump, subscription and edge view uses. */
export const CHAOS_QUERY = 'SELECT k, a, b, n FROM kv'

/** A seeded random source in [0, 1) (mulberry32). */
export const rng = mulberry32
export const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T
export const between = (r: () => number, lo: number, hi: number): number =>
  lo + Math.floor(r() * (hi - lo + 1))

/** One statement and what it does to the key space, when it affects a row. */
export type Step =
  | { kind: 'upsert'; k: number; col: 'a'; token: string }
  | { kind: 'set'; k: number; col: 'b'; token: string }
  | { kind: 'bump'; k: number }
  | { kind: 'delete'; k: number }
  | { kind: 'insert'; k: number; a: string; b: string }

export interface Op {
  id: number
  /** Index of the worker the transaction is sent to. */
  worker: number
  steps: Step[]
}

export function stepSql(s: Step): [string, (string | number)[]] {
  switch (s.kind) {
    case 'upsert':
      return [
        'INSERT INTO kv (k, a) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET a = excluded.a',
        [s.k, s.token],
      ]
    case 'set':
      return ['UPDATE kv SET b = ? WHERE k = ?', [s.token, s.k]]
    case 'bump':
      return ['UPDATE kv SET n = n + 1 WHERE k = ?', [s.k]]
    case 'delete':
      return ['DELETE FROM kv WHERE k = ?', [s.k]]
    case 'insert':
      // a re-insert: replaces a live row, resurrects a deleted one
      return ['INSERT OR REPLACE INTO kv (k, a, b) VALUES (?, ?, ?)', [s.k, s.a, s.b]]
  }
}

export interface WorkloadOptions {
  workers: number
  keys: number
}

/** The `id`-th operation of the workload of `seed` (deterministic per (seed, id)). */
export function makeOp(seed: number, id: number, o: WorkloadOptions): Op {
  const r = rng((seed * 1_000_003) ^ (id * 7919))
  const worker = Math.floor(r() * o.workers)
  const n = r() < 0.2 ? between(r, 2, 4) : 1
  const steps: Step[] = []
  for (let i = 0; i < n; i++) {
    const k = Math.floor(r() * o.keys)
    const t = `w${id}.${i}`
    const x = r()
    if (x < 0.35) steps.push({ kind: 'upsert', k, col: 'a', token: t })
    else if (x < 0.55) steps.push({ kind: 'set', k, col: 'b', token: t })
    else if (x < 0.7) steps.push({ kind: 'bump', k })
    else if (x < 0.85) steps.push({ kind: 'delete', k })
    else steps.push({ kind: 'insert', k, a: `${t}a`, b: `${t}b` })
  }
  return { id, worker, steps }
}

/**
 * Exact comparison of what nodes store, in SQL, never through JSON (where 5 and 5.0 look alike):
 * every cell as `typeof:value`, the value by `quote()` or, for a REAL, `printf('%!.17g')`.
 */
export const cellSql = (col: string): string =>
  `typeof(${col}) || ':' || CASE typeof(${col}) WHEN 'real' THEN printf('%!.17g', ${col}) ELSE quote(${col}) END`

const TYPED_COLS = ['u', 'bl', 'r', 'num', 't', 'i', 'd'] as const
const STRICT_COLS = ['a', 'i', 'r', 't'] as const

/** Queries answering one text cell per row: every table of `CHAOS_SCHEMA`, exactly, in key order. */
export const EXACT_QUERIES: readonly string[] = [
  ['kv', ['k', 'a', 'b', 'n']],
  ['typed', ['k', ...TYPED_COLS]],
  ['typed_strict', ['k', ...STRICT_COLS]],
].map(
  ([table, cols]) =>
    `SELECT '${table as string}: ' || ${(cols as string[]).map(cellSql).join(` || ' | ' || `)} FROM ${table as string} ORDER BY k`,
)

/** Literals of every storage class, including values JSON cannot tell apart (5, 5.0, '5'). */
const LOOSE_LITERALS = [
  'NULL',
  '0',
  '5',
  '5.0',
  '2.5',
  '-0.5',
  '1e300',
  '9007199254740993',
  '-9223372036854775808',
  '9223372036854775807',
  "'5'",
  "'5.0'",
  "'abc'",
  "'ABC'",
  "'abc '",
  "x'05'",
  "x''",
]
/** What each STRICT column accepts (a literal it refuses would only fail the transaction). */
const STRICT_LITERALS: Record<(typeof STRICT_COLS)[number], readonly string[]> = {
  a: LOOSE_LITERALS,
  i: ['NULL', '0', '5', '5.0', '9007199254740993', '-9223372036854775808', "'7'"],
  r: ['NULL', '5', '5.0', '2.5', '1e300', '-0.5'],
  t: ['NULL', "'abc'", "'abc '", "'ABC'", "'5'"],
}
const TYPED_KEYS = ['0', '1', '2', '9007199254740992', '9007199254740993', '-9223372036854775808']
const STRICT_KEYS = ["'a'", "'A'", "'a '", "'5'", "''"]

/**
 * The `id`-th write of the typed tables (deterministic per (seed, id)): one to three literal
 * statements of upserts, updates, deletes and REPLACEs, sent to `worker`.
 */
export function typedOp(seed: number, id: number, workers: number): { worker: number; sql: string[] } {
  const r = rng((seed * 7_000_003) ^ (id * 104_729))
  const worker = Math.floor(r() * workers)
  const sql: string[] = []
  for (let n = between(r, 1, 3); n > 0; n--) {
    const strict = r() < 0.4
    const x = r()
    if (strict) {
      const k = pick(r, STRICT_KEYS)
      const col = pick(r, STRICT_COLS)
      const v = pick(r, STRICT_LITERALS[col])
      if (x < 0.5)
        sql.push(
          `INSERT INTO typed_strict (k, ${col}) VALUES (${k}, ${v}) ON CONFLICT (k) DO UPDATE SET ${col} = excluded.${col}`,
        )
      else if (x < 0.8) sql.push(`UPDATE typed_strict SET ${col} = ${v} WHERE k = ${k}`)
      else sql.push(`DELETE FROM typed_strict WHERE k = ${k}`)
    } else {
      const k = pick(r, TYPED_KEYS)
      const col = pick(r, TYPED_COLS)
      const v = pick(r, LOOSE_LITERALS)
      if (x < 0.45)
        sql.push(
          `INSERT INTO typed (k, ${col}) VALUES (${k}, ${v}) ON CONFLICT (k) DO UPDATE SET ${col} = excluded.${col}`,
        )
      else if (x < 0.75) sql.push(`UPDATE typed SET ${col} = ${v} WHERE k = ${k}`)
      else if (x < 0.88) sql.push(`DELETE FROM typed WHERE k = ${k}`)
      else
        sql.push(
          `INSERT OR REPLACE INTO typed (k, u, r) VALUES (${k}, ${v}, ${pick(r, ['5', '5.0', 'NULL'])})`,
        )
    }
  }
  return { worker, sql }
}
