import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { SqlValue } from '@patina/api'
import {
  compareValues,
  createStateEngine,
  decodeChangeset,
  encodeChangeset,
  SENTINEL,
  type Changeset,
  type FullChangeset,
  type StateEngine,
  type Statement,
} from '../src/index.js'
import { TEST_SCHEMA } from './helpers.js'

/**
 * Property: random concurrent histories on 3–5 replicas, exchanged in random order,
 * with duplicates, arbitrary chunking and partial syncs, always converge, and the result
 * equals an independent reference model of the merge rules.
 */

const RUNS = Number(process.env['PATINA_PROP_RUNS'] ?? 3000)

type Op =
  | { kind: 'insert'; id: number; name: string | null; qty: number }
  | { kind: 'update'; id: number; name: string | null }
  | { kind: 'bump'; id: number }
  | { kind: 'delete'; id: number }
  | { kind: 'upsert'; id: number; qty: number }
  | { kind: 'replace'; id: number; name: string }
  | { kind: 'rekey'; from: number; to: number }
  | { kind: 'pair'; a: string; b: number; v: string | null; del: boolean }
  | { kind: 'multi'; ops: Op[] }

const id = fc.integer({ min: 1, max: 6 })
const name = fc.option(fc.constantFrom('a', 'b', 'c', 'dd', 'é', ''), { nil: null })
const simpleOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), id, name, qty: fc.integer({ min: -3, max: 3 }) }),
  fc.record({ kind: fc.constant('update' as const), id, name }),
  fc.record({ kind: fc.constant('bump' as const), id }),
  fc.record({ kind: fc.constant('delete' as const), id }),
  fc.record({ kind: fc.constant('upsert' as const), id, qty: fc.integer({ min: 0, max: 9 }) }),
  fc.record({ kind: fc.constant('replace' as const), id, name: fc.constantFrom('r1', 'r2') }),
  fc.record({ kind: fc.constant('rekey' as const), from: id, to: id }),
  fc.record({
    kind: fc.constant('pair' as const),
    a: fc.constantFrom('x', 'y'),
    b: fc.integer({ min: 1, max: 2 }),
    v: name,
    del: fc.boolean(),
  }),
)
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: simpleOp },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('multi' as const),
      ops: fc.array(simpleOp, { minLength: 2, maxLength: 4 }),
    }),
  },
)

function toStatements(o: Op): Statement[] {
  switch (o.kind) {
    case 'insert':
      return [
        {
          sql: 'INSERT OR IGNORE INTO items (id, name, qty) VALUES (?, ?, ?)',
          params: [o.id, o.name, o.qty],
        },
      ]
    case 'update':
      return [{ sql: 'UPDATE items SET name = :n WHERE id = :id', params: { ':n': o.name, ':id': o.id } }]
    case 'bump':
      return [{ sql: 'UPDATE items SET qty = qty + 1 WHERE id = ?', params: [o.id] }]
    case 'delete':
      return [{ sql: 'DELETE FROM items WHERE id = ?', params: [o.id] }]
    case 'upsert':
      return [
        {
          sql: 'INSERT INTO items (id, qty) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET qty = excluded.qty',
          params: [o.id, o.qty],
        },
      ]
    case 'replace':
      return [{ sql: 'INSERT OR REPLACE INTO items (id, name) VALUES (?, ?)', params: [o.id, o.name] }]
    case 'rekey':
      return [{ sql: 'UPDATE OR IGNORE items SET id = ? WHERE id = ?', params: [o.to, o.from] }]
    case 'pair':
      return o.del
        ? [{ sql: 'DELETE FROM pairs WHERE a = ? AND b = ?', params: [o.a, o.b] }]
        : [
            {
              sql: 'INSERT INTO pairs (a, b, v) VALUES (?, ?, ?) ON CONFLICT (a, b) DO UPDATE SET v = excluded.v',
              params: [o.a, o.b, o.v],
            },
          ]
    case 'multi':
      return o.ops.flatMap(toStatements)
  }
}

const DEFAULTS: Record<string, Record<string, SqlValue>> = {
  items: { name: null, qty: 0, data: null },
  pairs: { v: null },
}
const NON_PK: Record<string, string[]> = { items: ['name', 'qty', 'data'], pairs: ['v'] }

/** The reference model: for each row the largest causal length decides liveness; within it, each
 * cell takes the change with the largest (col_version, value, site id); cells without one take
 * their default. Written from the rules, not from the engine's code. */
function model(all: FullChangeset[]): Map<string, string> {
  type Best = { colVersion: number; val: SqlValue; site: string }
  const rows = new Map<string, { table: string; pk: string; cl: number; cells: Map<string, Best> }>()
  for (const cs of all) {
    for (const c of cs.changes) {
      const key = `${c.table}/${Buffer.from(c.pk).toString('hex')}`
      let r = rows.get(key)
      if (!r)
        rows.set(
          key,
          (r = { table: c.table, pk: Buffer.from(c.pk).toString('hex'), cl: 0, cells: new Map() }),
        )
      if (c.cl > r.cl) {
        r.cl = c.cl
        r.cells.clear()
      }
      if (c.cl < r.cl || c.cid === SENTINEL) continue
      const cur = r.cells.get(c.cid)
      const better =
        !cur ||
        c.colVersion > cur.colVersion ||
        (c.colVersion === cur.colVersion &&
          (compareValues(c.val, cur.val) > 0 ||
            (compareValues(c.val, cur.val) === 0 && cs.actorId > cur.site)))
      if (better) r.cells.set(c.cid, { colVersion: c.colVersion, val: c.val, site: cs.actorId })
    }
  }
  const out = new Map<string, string>()
  for (const [key, r] of rows) {
    if (r.cl % 2 === 0) continue
    const vals = (NON_PK[r.table] as string[]).map((col) =>
      r.cells.has(col) ? r.cells.get(col)!.val : DEFAULTS[r.table]![col],
    )
    out.set(
      key,
      JSON.stringify(vals, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
    )
  }
  return out
}

function snapshot(e: StateEngine): Map<string, string> {
  const out = new Map<string, string>()
  for (const [table, sel] of [
    ['items', 'SELECT id, name, qty, data FROM items'],
    ['pairs', 'SELECT a, b, v FROM pairs'],
  ] as const) {
    const npk = table === 'items' ? 1 : 2
    for (const row of e.query(sel).rows) {
      const pkHex = Buffer.from(packRow(row.slice(0, npk))).toString('hex')
      out.set(
        `${table}/${pkHex}`,
        JSON.stringify(row.slice(npk), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
      )
    }
  }
  return out
}

import { packPk } from '../src/index.js'
const packRow = (vals: SqlValue[]) => packPk(vals)

describe('convergence (property)', () => {
  it(`random histories on 3–5 replicas converge to the reference model (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 5 }),
        fc.array(fc.tuple(fc.nat(), op, fc.nat(), fc.boolean()), { minLength: 1, maxLength: 25 }),
        fc.integer({ min: 40, max: 400 }),
        fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 64 }),
        (n, history, chunkBytes, rnd) => {
          let cursor = 0
          const next = () => rnd[cursor++ % rnd.length] as number
          const reps = Array.from({ length: n }, () =>
            createStateEngine({ path: ':memory:', schema: TEST_SCHEMA, maxChunkBytes: chunkBytes }),
          )
          const produced: FullChangeset[] = []
          try {
            for (const [who, o, deliverTo, doSync] of history) {
              const r = reps[who % n] as StateEngine
              try {
                const res = r.transaction(toStatements(o))
                produced.push(...res.changesets)
              } catch {
                // constraint errors are part of the game; the transaction rolled back
              }
              // Partial, out-of-order, duplicated delivery to one replica.
              const target = reps[deliverTo % n] as StateEngine
              const batch: Changeset[] = []
              for (let k = next() % 4; k > 0 && produced.length > 0; k--) {
                batch.push(produced[next() % produced.length] as FullChangeset)
              }
              // Round-trip through the wire codec.
              target.apply(batch.map((cs) => decodeChangeset(encodeChangeset(cs))))
              if (doSync && next() % 3 === 0) {
                const from = reps[next() % n] as StateEngine
                for (const cs of from.changesFor(target.syncState(), { maxChunkBytes: chunkBytes }))
                  target.apply([cs])
              }
            }
            // Heal: every replica gets everything, shuffled, with duplicates.
            for (const r of reps) {
              const all = [...produced, ...produced.filter(() => next() % 3 === 0)]
              for (let i = all.length - 1; i > 0; i--) {
                const j = next() % (i + 1)
                ;[all[i], all[j]] = [all[j] as FullChangeset, all[i] as FullChangeset]
              }
              for (let i = 0; i < all.length;) {
                const k = 1 + (next() % 5)
                r.apply(all.slice(i, i + k))
                i += k
              }
            }
            const expected = model(produced)
            for (const r of reps) {
              expect(snapshot(r)).toEqual(expected)
              expect(r.stats().gaps).toBe(0)
              expect(r.stats().partials).toBe(0)
            }
            // Sync from scratch reproduces the same state.
            const fresh = createStateEngine({ path: ':memory:', schema: TEST_SCHEMA })
            try {
              for (const cs of (reps[0] as StateEngine).changesFor(fresh.syncState(), {
                maxChunkBytes: chunkBytes,
              }))
                fresh.apply([cs])
              expect(snapshot(fresh)).toEqual(expected)
              expect(fresh.stats().gaps).toBe(0)
            } finally {
              fresh.close()
            }
          } finally {
            for (const r of reps) r.close()
          }
        },
      ),
      { numRuns: RUNS },
    )
  }, 600_000)
})
