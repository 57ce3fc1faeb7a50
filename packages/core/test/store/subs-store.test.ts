import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openSubsStore, type SubRecord, type SubsStore } from '../../src/index.js'

let dir: string
let store: SubsStore
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'patina-subs-store-'))
  store = openSubsStore(path.join(dir, 'subs.db'))
})
afterEach(() => {
  store.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

const rec = (id: string): SubRecord => ({
  id,
  sql: 'SELECT 1',
  params: null,
  hash: 'h',
  lastChangeId: 0,
  nextRowid: 3,
  createdAtMs: 1,
  columns: ['a'],
})

describe('subscription store', () => {
  it('persists subscriptions, rows and changes across reopen', () => {
    store.create(rec('s1'), [
      { rowid: 1, key: 'k1', cells: '[1]' },
      { rowid: 2, key: 'k2', cells: '[2]' },
    ])
    store.commit('s1', {
      upserts: [{ rowid: 1, key: 'k1', cells: '[10]' }],
      deletes: [2],
      changes: [
        { changeId: 1, type: 'update', rowid: 1, cells: '[10]', atMs: 100 },
        { changeId: 2, type: 'delete', rowid: 2, cells: '[2]', atMs: 100 },
      ],
      lastChangeId: 2,
      nextRowid: 3,
    })
    store.close()
    store = openSubsStore(path.join(dir, 'subs.db'))
    expect(store.list()).toEqual([{ ...rec('s1'), lastChangeId: 2 }])
    expect(store.rows('s1')).toEqual([{ rowid: 1, key: 'k1', cells: '[10]' }])
    expect(store.changesAfter('s1', 0, 10).map((c) => c.changeId)).toEqual([1, 2])
    expect(store.changesAfter('s1', 1, 10)).toEqual([
      { changeId: 2, type: 'delete', rowid: 2, cells: '[2]', atMs: 100 },
    ])
    expect(store.minChangeId('s1')).toBe(1)
  })

  it('purges by count and by age, and deletes everything of a subscription', () => {
    store.create(rec('s1'), [])
    const changes = Array.from({ length: 10 }, (_, i) => ({
      changeId: i + 1,
      type: 'insert' as const,
      rowid: i + 1,
      cells: '[]',
      atMs: (i + 1) * 10,
    }))
    store.commit('s1', { upserts: [], deletes: [], changes, lastChangeId: 10, nextRowid: 11 })
    expect(store.purge('s1', { maxCount: 6, beforeMs: 0 })).toBe(4)
    expect(store.minChangeId('s1')).toBe(5)
    expect(store.purge('s1', { maxCount: 100, beforeMs: 71 })).toBe(3)
    expect(store.minChangeId('s1')).toBe(8)
    store.delete('s1')
    expect(store.list()).toEqual([])
    expect(store.minChangeId('s1')).toBeNull()
  })

  it('rolls back a failed batch as a whole', () => {
    store.create(rec('s1'), [])
    const c = { changeId: 1, type: 'insert' as const, rowid: 1, cells: '[]', atMs: 1 }
    expect(() =>
      store.commit('s1', {
        upserts: [{ rowid: 1, key: 'k', cells: '[]' }],
        deletes: [],
        changes: [c, c],
        lastChangeId: 1,
        nextRowid: 2,
      }),
    ).toThrow()
    expect(store.rows('s1')).toEqual([])
    expect(store.get('s1')?.lastChangeId).toBe(0)
  })

  it('keeps the columns of a subscription, and opens a store written before it kept them', () => {
    store.create(rec('s1'), [])
    expect(store.get('s1')?.columns).toEqual(['a'])
    store.close()
    const old = path.join(dir, 'old.db')
    const db = new Database(old)
    db.exec(
      'CREATE TABLE patina_subs (id TEXT PRIMARY KEY, sql TEXT NOT NULL, params TEXT, hash TEXT NOT NULL, last_change_id INTEGER NOT NULL, next_rowid INTEGER NOT NULL, created_at_ms INTEGER NOT NULL)',
    )
    db.prepare("INSERT INTO patina_subs VALUES ('s0', 'SELECT 1', NULL, 'h', 4, 2, 1)").run()
    db.close()
    store = openSubsStore(old)
    expect(store.get('s0')).toMatchObject({ lastChangeId: 4, columns: null })
    store.create(rec('s2'), [])
    expect(store.get('s2')?.columns).toEqual(['a'])
  })
})
