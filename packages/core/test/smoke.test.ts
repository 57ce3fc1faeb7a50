import { afterEach, describe, expect, it } from 'vitest'
import { dump, engines } from './helpers.js'

describe('engine smoke', () => {
  const env = engines()
  afterEach(() => undefined)
  it('replicates insert/update/delete between two engines', () => {
    const a = env.open()
    const b = env.open()
    const r1 = a.transaction([
      { sql: 'INSERT INTO items (id, name, qty) VALUES (?, ?, ?)', params: [1, 'one', 5] },
      { sql: 'INSERT INTO items (id, name) VALUES (:id, :name)', params: { ':id': 2, ':name': 'two' } },
    ])
    expect(r1.version).toBe(1)
    expect(r1.results.map((r) => r.rowsAffected)).toEqual([1, 1])
    b.apply(r1.changesets)
    expect(dump(b)).toEqual(dump(a))
    const r2 = a.transaction([
      { sql: 'UPDATE items SET qty = qty + 1 WHERE id = 1' },
      { sql: 'DELETE FROM items WHERE id = 2' },
    ])
    b.apply(r2.changesets)
    expect(dump(b)).toEqual(dump(a))
    expect(dump(b)).toEqual([[1, 'one', 6, null]])
    const r3 = a.transaction([{ sql: "INSERT INTO items (id, name) VALUES (2, 'again')" }])
    b.apply(r3.changesets)
    expect(dump(b)).toEqual(dump(a))
    const c = env.open()
    for (const cs of a.changesFor(c.syncState())) c.apply([cs])
    expect(dump(c)).toEqual(dump(a))
    expect(c.syncState().heads[a.actorId]).toBe(3)
    env.cleanup()
  })
})
