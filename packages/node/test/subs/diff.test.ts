import type { QueryPlan } from '@patina/core'
import { describe, expect, it } from 'vitest'
import { batchOf, createIdentifier, diffRows, type FreshRow } from '../../src/subs/diff.js'
import { createSubRows } from '../../src/subs/rows.js'

const base: QueryPlan = {
  sql: '',
  maintenance: 'rerun',
  rerunReason: 'x',
  identity: { kind: 'content' },
  outputColumns: ['a', 'b'],
  tables: [],
  columns: new Map(),
  hiddenCount: 0,
  innerSql: '',
  head: '',
  where: null,
}

describe('row identity', () => {
  it('keys rows by hidden primary keys, by chosen columns, or by content with an ordinal for repeats', () => {
    const pks = createIdentifier({
      ...base,
      maintenance: 'incremental',
      identity: { kind: 'pks' },
      hiddenCount: 3,
      tables: [
        { alias: 't', table: 't', pk: ['id'], join: 'root', hiddenOffset: 0, display: 't' },
        { alias: 'k', table: 'k', pk: ['a', 'b'], join: 'left', hiddenOffset: 1, display: 'k' },
      ],
    })
    expect(pks([1n, 'x', 7, null, null])).toEqual({
      key: '["i7","n","n"]',
      fresh: { cells: '[1,"x"]', tableKeys: ['["i7"]', '["n","n"]'] },
    })
    const cols = createIdentifier({ ...base, identity: { kind: 'columns', columns: [1] } })
    expect(cols(['n', 2]).key).toBe('c["i2"]')
    expect(cols(['m', 2]).key).toBe('c["i2"]#1')
    const content = createIdentifier(base)
    expect([content([1n, 2n]).key, content([1n, 2n]).key, content([2n, 1n]).key]).toEqual([
      'v[1,2]',
      'v[1,2]#1',
      'v[2,1]',
    ])
  })

  it('refuses a row of another width than the subscription header', () => {
    expect(() => createIdentifier(base)([1, 2, 3])).toThrow(/3 columns where the subscription has 2/)
  })
})

describe('diffing a fresh result against the stored rows', () => {
  const stored = createSubRows([])
  stored.put('a', { rowid: 1, cells: '[1]', tableKeys: [] })
  stored.put('b', { rowid: 2, cells: '[2]', tableKeys: [] })
  stored.put('c', { rowid: 3, cells: '[3]', tableKeys: [] })
  const fresh = new Map<string, FreshRow>([
    ['a', { cells: '[1]', tableKeys: [] }],
    ['b', { cells: '[20]', tableKeys: [] }],
    ['d', { cells: '[4]', tableKeys: [] }],
  ])

  it('gives inserts, updates keeping the row id, and deletes of rows in scope only', () => {
    expect(diffRows(stored, fresh, ['a', 'b', 'c'])).toEqual([
      { type: 'update', key: 'b', entry: { rowid: 2, cells: '[20]', tableKeys: [] } },
      { type: 'insert', key: 'd', entry: { rowid: 0, cells: '[4]', tableKeys: [] } },
      { type: 'delete', key: 'c', entry: { rowid: 3, cells: '[3]', tableKeys: [] } },
    ])
    expect(diffRows(stored, fresh, ['a', 'b']).map((d) => d.type)).toEqual(['update', 'insert'])
  })

  it('records a diff as one batch: new row ids for inserts, one contiguous change id each', () => {
    const diffs = diffRows(stored, fresh, ['a', 'b', 'c'])
    const batch = batchOf(diffs, { lastChangeId: 10, nextRowid: 4 }, 99)
    expect(batch).toEqual({
      upserts: [
        { rowid: 2, key: 'b', cells: '[20]' },
        { rowid: 4, key: 'd', cells: '[4]' },
      ],
      deletes: [3],
      changes: [
        { changeId: 11, type: 'update', rowid: 2, cells: '[20]', atMs: 99 },
        { changeId: 12, type: 'insert', rowid: 4, cells: '[4]', atMs: 99 },
        { changeId: 13, type: 'delete', rowid: 3, cells: '[3]', atMs: 99 },
      ],
      lastChangeId: 13,
      nextRowid: 5,
    })
  })
})
