import { describe, expect, it } from 'vitest'
import { createSubRows } from '../../src/subs/rows.js'

describe('stored rows of a subscription', () => {
  it('iterate in row-id order; an update keeps its place', () => {
    const rows = createSubRows([])
    rows.put('a', { rowid: 1, cells: '[1]', tableKeys: [] })
    rows.put('b', { rowid: 2, cells: '[2]', tableKeys: [] })
    rows.put('c', { rowid: 3, cells: '[3]', tableKeys: [] })
    rows.put('a', { rowid: 1, cells: '[10]', tableKeys: [] })
    rows.delete('b')
    rows.put('d', { rowid: 4, cells: '[4]', tableKeys: [] })
    expect([...rows.values()].map((e) => [e.rowid, e.cells])).toEqual([
      [1, '[10]'],
      [3, '[3]'],
      [4, '[4]'],
    ])
    expect(() => rows.put('e', { rowid: 2, cells: '[]', tableKeys: [] })).toThrow(/not above the last one/)
  })

  it('index rows by the key of each FROM table, except unmatched left-joined rows', () => {
    const rows = createSubRows(['["n"]', '["n"]'])
    rows.put('r1', { rowid: 1, cells: '[]', tableKeys: ['["i1"]', '["i9"]'] })
    rows.put('r2', { rowid: 2, cells: '[]', tableKeys: ['["i2"]', '["n"]'] })
    rows.put('r3', { rowid: 3, cells: '[]', tableKeys: ['["i3"]', '["i9"]'] })
    expect([...rows.withTableKey(1, '["i9"]')]).toEqual(['r1', 'r3'])
    expect([...rows.withTableKey(1, '["n"]')]).toEqual([])
    rows.put('r1', { rowid: 1, cells: '[]', tableKeys: ['["i1"]', '["i8"]'] })
    expect([...rows.withTableKey(1, '["i9"]')]).toEqual(['r3'])
    rows.delete('r3')
    expect([...rows.withTableKey(1, '["i9"]')]).toEqual([])
    expect([...rows.withTableKey(0, '["i2"]')]).toEqual(['r2'])
  })
})
