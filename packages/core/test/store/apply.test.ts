import { describe, expect, it } from 'vitest'
import { createStateEngine, packPk, SENTINEL, type CommitEvent, type FullChangeset } from '../../src/index.js'
import { dump, engines, TEST_SCHEMA } from '../helpers.js'

const open = (maxChunkBytes?: number) =>
  createStateEngine({ path: ':memory:', schema: TEST_SCHEMA, ...(maxChunkBytes ? { maxChunkBytes } : {}) })

describe('remote apply (merge)', () => {
  it('is idempotent and reports ignored duplicates', () => {
    const a = open()
    const b = open()
    const w = a.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'a')" }])
    expect(b.apply(w.changesets).applied).toBe(4)
    const again = b.apply(w.changesets)
    expect(again.applied).toBe(0)
    expect(again.ignored).toBe(4)
    expect(dump(b)).toEqual(dump(a))
  })

  it('breaks concurrent writes by col_version, then value, then site id', () => {
    const a = open()
    const b = open()
    const base = a.transaction([{ sql: "INSERT INTO items (id, name, qty) VALUES (1, 'x', 0)" }])
    b.apply(base.changesets)
    // a writes twice (col_version 3), b once (2): a wins whatever the values.
    const a1 = a.transaction([{ sql: "UPDATE items SET name = 'a1' WHERE id = 1" }])
    const a2 = a.transaction([{ sql: "UPDATE items SET name = 'a2' WHERE id = 1" }])
    const b1 = b.transaction([{ sql: "UPDATE items SET name = 'zz' WHERE id = 1" }])
    a.apply(b1.changesets)
    b.apply([...a1.changesets, ...a2.changesets])
    expect(dump(a)).toEqual(dump(b))
    expect(dump(a)[0]).toEqual([1, 'a2', 0, null])
    // Same col_version: the larger value wins ('b' > 'a').
    const a3 = a.transaction([{ sql: 'UPDATE items SET qty = 1 WHERE id = 1' }])
    const b3 = b.transaction([{ sql: 'UPDATE items SET qty = 2 WHERE id = 1' }])
    a.apply(b3.changesets)
    b.apply(a3.changesets)
    expect(dump(a)).toEqual(dump(b))
    expect(dump(a)[0]![2]).toBe(2)
  })

  it('lets a delete win over concurrent updates of the same life, and a re-insert win over the delete', () => {
    const a = open()
    const b = open()
    b.apply(a.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'x')" }]).changesets)
    const del = a.transaction([{ sql: 'DELETE FROM items WHERE id = 1' }])
    const upd = b.transaction([{ sql: "UPDATE items SET name = 'y' WHERE id = 1" }])
    a.apply(upd.changesets)
    b.apply(del.changesets)
    expect(dump(a)).toEqual([])
    expect(dump(b)).toEqual([])
    const re = b.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'back')" }])
    expect(re.changesets[0]!.changes[0]).toMatchObject({ cid: SENTINEL, cl: 3 })
    a.apply(re.changesets)
    expect(dump(a)).toEqual([[1, 'back', 0, null]])
  })

  it('buffers chunks that arrive out of order and applies the version when complete', () => {
    const a = open(60)
    const b = open()
    const rows = Array.from({ length: 10 }, (_, i) => `(${i}, 'name-${i}')`).join(', ')
    const w = a.transaction([{ sql: `INSERT INTO items (id, name) VALUES ${rows}` }])
    expect(w.changesets.length).toBeGreaterThan(3)
    const reversed = [...w.changesets].reverse()
    for (const cs of reversed.slice(0, -1)) {
      const r = b.apply([cs])
      expect(r.applied).toBe(0)
      expect(b.stats().partials).toBe(1)
    }
    expect(dump(b)).toEqual([])
    expect(b.syncState().partialNeed[a.actorId]).toBeDefined()
    const last = b.apply([reversed.at(-1) as FullChangeset])
    expect(last.versions).toEqual([{ actorId: a.actorId, version: 1 }])
    expect(dump(b)).toEqual(dump(a))
    expect(b.stats()).toMatchObject({ gaps: 0, partials: 0 })
  })

  it('records gaps when versions are skipped, and sync fills them', () => {
    const a = open()
    const b = open()
    const ws = [1, 2, 3, 4].map((i) => a.transaction([{ sql: `INSERT INTO items (id) VALUES (${i})` }]))
    b.apply(ws[3]!.changesets)
    expect(b.syncState().need[a.actorId]).toEqual([[1, 3]])
    expect(b.stats().gaps).toBe(3)
    for (const cs of a.changesFor(b.syncState())) b.apply([cs])
    expect(b.stats().gaps).toBe(0)
    expect(dump(b)).toEqual(dump(a))
  })

  it('serves overwritten versions as empty (cleared) changesets', () => {
    const a = open()
    a.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'x')" }])
    a.transaction([{ sql: "UPDATE items SET name = 'y', qty = 1, data = x'00' WHERE id = 1" }])
    a.transaction([{ sql: 'DELETE FROM items WHERE id = 1' }])
    const served = [...a.changesFor(open().syncState())]
    expect(served.map((c) => c.kind)).toEqual(['empty', 'full'])
    expect(served[0]).toMatchObject({ kind: 'empty', versions: [1, 2] })
    const b = open()
    for (const cs of served) b.apply([cs])
    expect(b.syncState().heads[a.actorId]).toBe(3)
    expect(b.stats().gaps).toBe(0)
  })

  it('refuses a version naming an unknown table or column alone, holds it back, and retries it after a schema change', () => {
    const extra = TEST_SCHEMA + ' CREATE TABLE extra (id INTEGER PRIMARY KEY, v TEXT);'
    const a = createStateEngine({ path: ':memory:', schema: extra })
    const b = open()
    const w = a.transaction([{ sql: "INSERT INTO extra (id, v) VALUES (1, 'x')" }])
    const ok = a.transaction([{ sql: 'INSERT INTO items (id) VALUES (5)' }])
    // One batch: the bad version is refused, the good one applies.
    const res = b.apply([...w.changesets, ...ok.changesets])
    expect(res.refused).toEqual([
      {
        actorId: a.actorId,
        version: 1,
        code: 'PATINA_ERR_UNKNOWN_TABLE',
        reason: expect.stringMatching(/unknown table "extra"/) as string,
        first: true,
      },
    ])
    expect(res.versions).toEqual([{ actorId: a.actorId, version: 2 }])
    expect(b.contains(a.actorId, 1)).toBe(false)
    expect(dump(b)).toEqual([[5, null, 0, null]])
    // It is missing (a gap), but not asked for again nor applied again until it is due.
    expect(b.stats()).toMatchObject({ gaps: 1, refused: 1 })
    expect(b.syncState().need[a.actorId]).toBeUndefined()
    expect(b.apply(w.changesets)).toMatchObject({ refused: [], versions: [] })
    expect(b.refused()).toMatchObject([{ actorId: a.actorId, version: 1, attempts: 1 }])
    // A forged column is refused too, with its own reason.
    const forged: FullChangeset = {
      ...(ok.changesets[0] as FullChangeset),
      version: 3,
      changes: [{ table: 'items', pk: packPk([1n]), cid: 'nope', val: 1n, colVersion: 1, cl: 1, seq: 0 }],
      seqEnd: 0,
      lastSeq: 0,
    }
    expect(b.apply([forged]).refused[0]?.reason).toMatch(/unknown column "items"."nope"/)
    // The schema catches up: the held version is due again, asked for, and applies.
    b.applySchema(extra)
    expect(b.syncState().need[a.actorId]).toEqual([
      [1, 1],
      [3, 3],
    ])
    expect(b.apply(w.changesets)).toMatchObject({
      refused: [],
      versions: [{ actorId: a.actorId, version: 1 }],
    })
    expect([...b.query('SELECT id, v FROM extra').rows]).toEqual([[1, 'x']])
    expect(b.stats()).toMatchObject({ gaps: 1, refused: 1 })
  })

  it('ignores its own changes echoed back', () => {
    const a = open()
    const w = a.transaction([{ sql: 'INSERT INTO items (id) VALUES (1)' }])
    expect(a.apply(w.changesets)).toMatchObject({ applied: 0, versions: [] })
  })

  it('reports commits to listeners with changed rows and columns', () => {
    const a = open()
    const b = open()
    const events: unknown[] = []
    b.onCommit((e) => events.push(e))
    b.apply(a.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'x')" }]).changesets)
    b.apply(a.transaction([{ sql: "UPDATE items SET name = 'y' WHERE id = 1" }]).changesets)
    b.apply(a.transaction([{ sql: 'DELETE FROM items WHERE id = 1' }]).changesets)
    expect(events).toMatchObject([
      { source: 'remote', rows: [{ table: 'items', pkValues: [1n], deleted: false }] },
      { source: 'remote', rows: [{ table: 'items', pkValues: [1n], cids: ['name'], deleted: false }] },
      { source: 'remote', rows: [{ table: 'items', pkValues: [1n], deleted: true }] },
    ])
  })

  it('tells listeners of a local commit its changesets, the ones transaction returns (what the cluster broadcasts)', () => {
    const a = open()
    const b = open()
    const events: CommitEvent[] = []
    a.onCommit((e) => events.push(e))
    b.onCommit((e) => events.push(e))
    const w = a.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'x')" }])
    b.apply(w.changesets)
    expect(events.map((e) => e.source)).toEqual(['local', 'remote'])
    expect(events[0]?.changesets).toBe(w.changesets)
    expect(events[0]?.changesets).toHaveLength(1)
    expect(events[1]?.changesets).toBeUndefined()
  })
})

describe('durability and backup', () => {
  it('persists bookkeeping (gaps and partials) across reopen', () => {
    const env = engines()
    try {
      const a = env.open(TEST_SCHEMA, 'a.sqlite')
      const b = env.open(TEST_SCHEMA, 'b.sqlite')
      const ws = [1, 2, 3].map((i) =>
        a.transaction([{ sql: `INSERT INTO items (id, name) VALUES (${i}, '${'x'.repeat(100)}')` }]),
      )
      b.apply(ws[2]!.changesets)
      const state = b.syncState()
      b.close()
      const b2 = env.open(TEST_SCHEMA, 'b.sqlite')
      expect(b2.syncState()).toEqual(state)
      for (const cs of a.changesFor(b2.syncState())) b2.apply([cs])
      expect(dump(b2)).toEqual(dump(a))
    } finally {
      env.cleanup()
    }
  })

  it('writes a backup that seeds a new node with a new identity', async () => {
    const env = engines()
    try {
      const a = env.open(TEST_SCHEMA, 'a.sqlite')
      a.transaction([{ sql: "INSERT INTO items (id, name) VALUES (1, 'x'), (2, 'y')" }])
      await a.backup(`${env.dir}/copy.sqlite`)
      a.transaction([{ sql: "INSERT INTO items (id, name) VALUES (3, 'z')" }])
      const c = env.open(TEST_SCHEMA, 'copy.sqlite')
      expect(c.actorId).not.toBe(a.actorId)
      expect(dump(c)).toEqual([
        [1, 'x', 0, null],
        [2, 'y', 0, null],
      ])
      // It already knows a's first version, so sync sends only the rest.
      expect(c.syncState().heads[a.actorId]).toBe(1)
      const served = [...a.changesFor(c.syncState())]
      expect(served.map((s) => (s.kind === 'full' ? s.version : -1))).toEqual([2])
      for (const cs of served) c.apply([cs])
      expect(dump(c)).toEqual(dump(a))
      const w = c.transaction([{ sql: 'DELETE FROM items WHERE id = 1' }])
      expect(w.version).toBe(1)
      a.apply(w.changesets)
      expect(dump(a)).toEqual(dump(c))
    } finally {
      env.cleanup()
    }
  })
})
