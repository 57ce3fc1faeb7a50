import { describe, expect, it } from 'vitest'
import type { JsonSqlValue } from '@patina/api'
import { createMaterializedView, keyPart } from '../src/view.js'

const COLS = ['id', 'host', 'backend']

describe('materialized view', () => {
  it('adopts the first worker rowids, applies changes and reports only real differences', () => {
    const v = createMaterializedView({ keyColumns: ['id'] })
    const d0 = v.reconcile(COLS, [
      [1, ['a', 'a.example', 'b1']],
      [2, ['b', 'b.example', 'b2']],
    ])
    expect(d0.map((d) => [d.type, d.rowid])).toEqual([
      ['insert', 1],
      ['insert', 2],
    ])
    expect(v.applyChange('update', 2, ['b', 'b.example', 'b9'])).toEqual({
      type: 'update',
      rowid: 2,
      cells: ['b', 'b.example', 'b9'],
      previous: ['b', 'b.example', 'b2'],
    })
    expect(v.applyChange('update', 2, ['b', 'b.example', 'b9'])).toBeNull()
    expect(v.applyChange('insert', 3, ['c', 'c.example', 'b3'])?.rowid).toBe(3)
    expect(v.applyChange('delete', 1, ['a', 'a.example', 'b1'])?.type).toBe('delete')
    expect(v.applyChange('delete', 1, ['a', 'a.example', 'b1'])).toBeNull()
    expect([...v.rows.keys()]).toEqual([2, 3])
    expect(v.findByKey(['c'])).toEqual([3])
    expect(v.findByKey(['a'])).toEqual([])
  })

  it('reconciles a snapshot from a worker with other rowids by key, emitting only the differences', () => {
    const v = createMaterializedView({ keyColumns: ['id'] })
    v.reconcile(COLS, [
      [1, ['a', 'a.example', 'b1']],
      [2, ['b', 'b.example', 'b2']],
      [3, ['c', 'c.example', 'b3']],
    ])
    // the other worker: a unchanged, b changed, c gone, d new — all with different rowids
    const deltas = v.reconcile(COLS, [
      [1001, ['a', 'a.example', 'b1']],
      [1002, ['b', 'b.example', 'B2']],
      [1003, ['d', 'd.example', 'b4']],
    ])
    expect(deltas).toEqual([
      { type: 'delete', rowid: 3, cells: ['c', 'c.example', 'b3'], previous: ['c', 'c.example', 'b3'] },
      { type: 'update', rowid: 2, cells: ['b', 'b.example', 'B2'], previous: ['b', 'b.example', 'b2'] },
      { type: 'insert', rowid: 1003, cells: ['d', 'd.example', 'b4'], previous: null },
    ])
    // rowids of matched rows are stable; new worker's rowids now map to them
    expect(v.applyChange('update', 1001, ['a', 'a.example', 'x'])?.rowid).toBe(1)
    expect(v.applyChange('delete', 1003, ['d', 'd.example', 'b4'])?.rowid).toBe(1003)
    // a fresh rowid never reuses one in use or deleted
    const again = v.reconcile(COLS, [
      [1, ['a', 'a.example', 'x']],
      [2, ['b', 'b.example', 'B2']],
      [3, ['e', 'e.example', 'b5']],
    ])
    expect(again).toEqual([{ type: 'insert', rowid: 1004, cells: ['e', 'e.example', 'b5'], previous: null }])
  })

  it('without keyColumns matches by full content (a multiset)', () => {
    const v = createMaterializedView()
    v.reconcile(
      ['x'],
      [
        [1, [1]],
        [2, [1]],
        [3, [2]],
      ],
    )
    const d = v.reconcile(
      ['x'],
      [
        [7, [1]],
        [8, [3]],
      ],
    )
    expect(d.map((x) => [x.type, x.rowid, x.cells])).toEqual([
      ['delete', 2, [1]],
      ['delete', 3, [2]],
      ['insert', 8, [3]],
    ])
    expect([...v.rows]).toEqual([
      [1, [1]],
      [8, [3]],
    ])
  })

  it('an identical snapshot yields no differences', () => {
    const v = createMaterializedView({ keyColumns: ['id'] })
    const snap: Array<[number, JsonSqlValue[]]> = [
      [1, ['a', 1, null]],
      [2, ['b', 2, [1, 2]]],
    ]
    v.reconcile(COLS, snap)
    expect(
      v.reconcile(
        COLS,
        snap.map(([r, c]) => [r + 50, c]),
      ),
    ).toEqual([])
  })

  it('loads a saved state, then reconciles against it', () => {
    const v = createMaterializedView({ keyColumns: ['id', 'host'] })
    v.load(COLS, [[10, ['a', 'h', 'old']]])
    expect(v.findByKey(['a', 'h'])).toEqual([10])
    const d = v.reconcile(COLS, [[1, ['a', 'h', 'new']]])
    expect(d).toEqual([{ type: 'update', rowid: 10, cells: ['a', 'h', 'new'], previous: ['a', 'h', 'old'] }])
  })

  it('rejects keyColumns that the query does not return, naming the allowed columns', () => {
    const v = createMaterializedView({ keyColumns: ['nope'] })
    expect(() => v.reconcile(COLS, [])).toThrow(/keyColumns value "nope".*allowed: "id", "host", "backend"/)
  })

  it('compares key values as text', () => {
    expect([keyPart(null), keyPart(5), keyPart('5'), keyPart([255, 1])]).toEqual(['', '5', '5', 'ff01'])
    const v = createMaterializedView({ keyColumns: ['id'] })
    v.reconcile(['id'], [[1, [42]]])
    expect(v.findByKey(['42'])).toEqual([1])
    expect(v.findByKey([42])).toEqual([1])
  })
})
