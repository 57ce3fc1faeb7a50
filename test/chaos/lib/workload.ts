/**
 * The seeded workload of the fault campaigns: inserts, updates, deletes, re-inserts and
 * multi-statement transactions over a small key space (so writes conflict), every written text
 * value a unique token (`w<op>.<stmt>`) so the checker can tell which write a cell came from.
 * Pure: the same seed gives the same operations.
 */

export const CHAOS_SCHEMA = `
CREATE TABLE kv (k INTEGER NOT NULL PRIMARY KEY, a TEXT, b TEXT, n INTEGER NOT NULL DEFAULT 0);
`
/** The query every worker dump, subscription and edge view uses. */
export const CHAOS_QUERY = 'SELECT k, a, b, n FROM kv'

/** A seeded random source in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
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
