import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { ChangeType, JsonSqlValue } from '@patina/api'
import { createIntMap } from '../src/int-map.js'
import { createStandbyRows } from '../src/standby-rows.js'
import { createMaterializedView } from '../src/view.js'

const COLS = ['k', 'v']

/** A worker's subscription as the client sees it: rowid per key (kept by updates), changes out. */
class Side {
  readonly rows = new Map<string, { rowid: number; cells: JsonSqlValue[] }>()
  private next: number
  constructor(base: number) {
    this.next = base
  }
  write(k: string, cells: JsonSqlValue[] | null): [ChangeType, number, JsonSqlValue[]] | null {
    const old = this.rows.get(k)
    if (cells === null) {
      if (!old) return null
      this.rows.delete(k)
      return ['delete', old.rowid, old.cells]
    }
    if (old) {
      if (JSON.stringify(old.cells) === JSON.stringify(cells)) return null
      this.rows.set(k, { rowid: old.rowid, cells })
      return ['update', old.rowid, cells]
    }
    const rowid = this.next++
    this.rows.set(k, { rowid, cells })
    return ['insert', rowid, cells]
  }
  snapshot(): Array<[number, JsonSqlValue[]]> {
    return [...this.rows.values()].map((r) => [r.rowid, r.cells])
  }
}

const sortedRows = (rs: Iterable<[number, JsonSqlValue[]]>) =>
  [...rs].map(([id, c]) => `${id}:${JSON.stringify(c)}`).sort()
const sortedCells = (rs: Iterable<JsonSqlValue[]>) => [...rs].map((c) => JSON.stringify(c)).sort()

type Op =
  | { kind: 'write'; k: number; v: JsonSqlValue | null; on: 'a' | 'b' | 'ab' | 'ba' }
  | { kind: 'resyncA' }
  | { kind: 'snapshotB' }

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      k: fc.integer({ min: 0, max: 5 }),
      v: fc.constantFrom<JsonSqlValue | null>('x', 'y', 1, null, null),
      on: fc.constantFrom('a' as const, 'b' as const, 'ab' as const, 'ba' as const),
    }),
    weight: 10,
  },
  { arbitrary: fc.constant({ kind: 'resyncA' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'snapshotB' as const }), weight: 1 },
)

describe('createStandbyRows (property): the standby worker rows, held as differences from the view', () => {
  it('always yields exactly the standby worker rows, whatever the interleaving of both sides', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 40 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 5 }), fc.constantFrom<JsonSqlValue | null>('x', 'z', null)),
          {
            maxLength: 8,
          },
        ),
        (ops, keyed, viaAdopt, later) => {
          const a = new Side(1)
          const b = new Side(1000)
          const view = createMaterializedView(keyed ? { keyColumns: ['k'] } : {})
          view.reconcile(COLS, [])
          const standby = createStandbyRows(view)
          const applyA = (c: [ChangeType, number, JsonSqlValue[]] | null): void => {
            if (c === null) return
            const d = view.applyChange(c[0], c[1], c[2])
            if (d) standby.viewChanged(d)
          }
          const applyB = (c: [ChangeType, number, JsonSqlValue[]] | null): void => {
            if (c !== null) standby.standbyRow(c[0], c[1], c[2])
          }
          for (const o of ops) {
            if (o.kind === 'write') {
              const cells = o.v === null ? null : [`k${o.k}`, o.v]
              const key = `k${o.k}`
              if (o.on === 'a') applyA(a.write(key, cells))
              else if (o.on === 'b') applyB(b.write(key, cells))
              else if (o.on === 'ab') {
                applyA(a.write(key, cells))
                applyB(b.write(key, cells))
              } else {
                applyB(b.write(key, cells))
                applyA(a.write(key, cells))
              }
            } else if (o.kind === 'resyncA') {
              // a resubscribe on the view's worker: its deltas reach the standby too
              for (const d of view.reconcile(COLS, a.snapshot())) standby.viewChanged(d)
            } else {
              // the standby worker's snapshot replayed as inserts (a re-made standby stream)
              for (const [r, cells] of b.snapshot()) standby.standbyRow('insert', r, cells)
            }
            expect(sortedRows(standby.rows() ?? [])).toEqual(sortedRows(b.snapshot()))
            expect(standby.size).toBe(b.rows.size)
          }
          // failover: the view made equal to the standby rows (by links, or by a reconcile of
          // them) equals the standby worker, and its deltas replayed on the old view give the same
          const replay = new Map(view.rows)
          let deltas
          if (viaAdopt) {
            const h = standby.handOver()
            deltas = view.adoptRows(h.links, h.linked, h.own)
          } else deltas = view.reconcile(COLS, standby.rows() ?? [])
          expect(deltas).not.toBeNull()
          const bCells = () => sortedCells(b.snapshot().map(([, c]) => c))
          expect(sortedCells(view.rows.values())).toEqual(bCells())
          for (const d of deltas ?? []) {
            if (d.type === 'insert') {
              expect(replay.has(d.rowid)).toBe(false)
              replay.set(d.rowid, d.cells)
            } else {
              expect(replay.get(d.rowid)).toEqual(d.previous)
              if (d.type === 'delete') replay.delete(d.rowid)
              else replay.set(d.rowid, d.cells)
            }
          }
          expect(sortedCells(replay.values())).toEqual(bCells())
          // then the view follows the standby worker's changes by its rowids
          for (const [k, v] of later) {
            const c = b.write(`k${k}`, v === null ? null : [`k${k}`, v])
            if (c !== null) view.applyChange(c[0], c[1], c[2])
          }
          expect(sortedCells(view.rows.values())).toEqual(bCells())
        },
      ),
      { numRuns: 500 },
    )
  })

  it('holds no cells of its own while both workers agree', () => {
    const view = createMaterializedView({ keyColumns: ['k'] })
    view.reconcile(COLS, [
      [1, ['a', 1]],
      [2, ['b', 2]],
    ])
    const s = createStandbyRows(view)
    s.standbyRow('insert', 10, ['a', 1])
    s.standbyRow('insert', 11, ['b', 2])
    expect([s.size, s.differing]).toEqual([2, 0])
    // the view moves first: the standby keeps the old cells until its worker catches up
    const d = view.applyChange('update', 1, ['a', 9])
    if (d) s.viewChanged(d)
    expect(s.differing).toBe(1)
    expect(s.rows()).toEqual([
      [10, ['a', 1]],
      [11, ['b', 2]],
    ])
    s.standbyRow('update', 10, ['a', 9])
    expect(s.differing).toBe(0)
    expect(s.rows()).toEqual([
      [10, ['a', 9]],
      [11, ['b', 2]],
    ])
  })
})

describe('createIntMap', () => {
  it('agrees with a Map, dense and after moving to sparse keys', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 2 ** 40 })),
            fc.option(fc.integer({ min: 0, max: 2 ** 33 })),
          ),
          { maxLength: 60 },
        ),
        (ops) => {
          const m = createIntMap()
          const ref = new Map<number, number>()
          for (const [k, v] of ops) {
            if (v === null) {
              m.delete(k)
              ref.delete(k)
            } else {
              m.set(k, v)
              ref.set(k, v)
            }
            expect(m.size).toBe(ref.size)
            expect(m.get(k)).toBe(ref.get(k))
          }
          expect([...m.entries()].sort((x, y) => x[0] - y[0])).toEqual([...ref].sort((x, y) => x[0] - y[0]))
        },
      ),
    )
  })
})
