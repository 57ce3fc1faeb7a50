import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { JsonSqlValue } from '@patina/api'
import { createMaterializedView } from '../src/view.js'

const COLS = ['k', 'v']
const row = fc.tuple(fc.integer({ min: 0, max: 6 }), fc.constantFrom<JsonSqlValue>('a', 'b', null, 1))
const sorted = (rs: Iterable<JsonSqlValue[]>) => [...rs].map((r) => JSON.stringify(r)).sort()

describe('MaterializedView.reconcile (property)', () => {
  it('ends equal to the snapshot, and its deltas replayed on the old view give the same rows', () => {
    fc.assert(
      fc.property(
        fc.array(row, { maxLength: 12 }),
        fc.array(row, { maxLength: 12 }),
        fc.boolean(),
        (before, after, keyed) => {
          // with key columns, a key appears once per side (as a primary key would)
          const dedupe = (rs: Array<[number, JsonSqlValue]>) =>
            keyed ? [...new Map(rs.map((r) => [r[0], r])).values()] : rs
          const b = dedupe(before).map((r) => [`k${r[0]}`, r[1]] as JsonSqlValue[])
          const a = dedupe(after).map((r) => [`k${r[0]}`, r[1]] as JsonSqlValue[])
          const view = createMaterializedView(keyed ? { keyColumns: ['k'] } : {})
          view.reconcile(
            COLS,
            b.map((cells, i) => [100 + i, cells] as const),
          )
          const replay = new Map([...view.rows].map(([id, c]) => [id, c]))
          const deltas = view.reconcile(
            COLS,
            a.map((cells, i) => [500 + i, cells] as const),
          )
          expect(sorted(view.rows.values())).toEqual(sorted(a))
          for (const d of deltas) {
            if (d.type === 'insert') {
              expect(replay.has(d.rowid)).toBe(false)
              replay.set(d.rowid, d.cells)
            } else {
              expect(replay.get(d.rowid)).toEqual(d.previous)
              if (d.type === 'delete') replay.delete(d.rowid)
              else {
                expect(d.cells).not.toEqual(d.previous)
                replay.set(d.rowid, d.cells)
              }
            }
          }
          expect(new Map(replay)).toEqual(new Map(view.rows))
          // keyed: a key present on both sides keeps its rowid
          if (keyed)
            for (const cells of a) {
              const ids = view.findByKey([cells[0] as string])
              expect(ids).toHaveLength(1)
            }
        },
      ),
      { numRuns: 300 },
    )
  })
})
