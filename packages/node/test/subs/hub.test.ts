import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSubscriptionHub, type SubscriptionHub } from '../../src/subs/hub.js'
import { applyEvents, canon, makeEnv, MemorySink, type Env } from './helpers.js'

let env: Env
let hub: SubscriptionHub

beforeEach(() => {
  env = makeEnv()
  hub = createSubscriptionHub({ engine: env.engine, store: env.store, logger: env.logger })
})
afterEach(() => {
  hub.close()
  env.cleanup()
})

const exec = (sql: string, params?: unknown[]) =>
  env.engine.transaction([{ sql, ...(params ? { params: params as never } : {}) }])

function query(sql: string, params?: unknown[]): string[] {
  return canon(
    [...env.engine.query(sql, params as never).rows].map((r) =>
      r.map((v) => (v instanceof Uint8Array ? [...v] : v)),
    ),
  )
}

describe('subscription hub', () => {
  it('streams a snapshot then incremental changes with contiguous change ids', async () => {
    exec("INSERT INTO users (id, name, team) VALUES (1, 'a', 1), (2, 'b', 2)")
    const { info, created } = hub.upsert({ sql: 'SELECT id, name FROM users WHERE team = ?', params: [1] })
    expect(created).toBe(true)
    const sink = new MemorySink()
    await hub.attach(info.id, sink)
    expect(sink.events()).toEqual([
      { columns: ['id', 'name'] },
      { row: [1, [1, 'a']] },
      { eoq: { time: expect.any(Number), change_id: 0 } },
    ])
    exec("UPDATE users SET name = 'aa' WHERE id = 1")
    hub.flush()
    exec("INSERT INTO users (id, name, team) VALUES (3, 'c', 1)")
    hub.flush()
    exec('UPDATE users SET team = 2 WHERE id = 1')
    hub.flush()
    const changes = sink.events().slice(3)
    expect(changes).toEqual([
      { change: ['update', 1, [1, 'aa'], 1] },
      { change: ['insert', 2, [3, 'c'], 2] },
      { change: ['delete', 1, [1, 'aa'], 3] },
    ])
  })

  it('shares one subscription between identical queries', () => {
    const a = hub.upsert({ sql: 'SELECT id FROM users', params: [] })
    const b = hub.upsert({ sql: 'SELECT id FROM users;  ', params: [] })
    expect(b.created).toBe(false)
    expect(b.info.id).toBe(a.info.id)
    expect(b.info.hash).toBe(a.info.hash)
  })

  it('maintains inner and left joins', async () => {
    exec("INSERT INTO teams (id, title) VALUES (1, 'red'), (2, 'blue')")
    exec("INSERT INTO users (id, name, team) VALUES (1, 'a', 1), (2, 'b', 3)")
    const sql = `SELECT u.id, u.name, t.title, upper(t.title) AS up FROM users u LEFT JOIN teams t ON t.id = u.team`
    const { info } = hub.upsert({ sql })
    const sink = new MemorySink()
    await hub.attach(info.id, sink)
    exec("INSERT INTO teams (id, title) VALUES (3, 'green')")
    hub.flush()
    exec("UPDATE teams SET title = 'crimson' WHERE id = 1")
    hub.flush()
    exec('DELETE FROM teams WHERE id = 3')
    hub.flush()
    expect(canon(applyEvents(sink.events()).values())).toEqual(
      query(
        `SELECT u.id, u.name, t.title, upper(t.title) AS up FROM users u LEFT JOIN teams t ON t.id = u.team`,
      ),
    )
    const inner = hub.upsert({
      sql: 'SELECT u.name, t.title FROM users u JOIN teams t ON t.id = u.team WHERE t.title LIKE ?',
      params: ['c%'],
    })
    const s2 = new MemorySink()
    await hub.attach(inner.info.id, s2)
    exec("UPDATE teams SET title = 'cyan' WHERE id = 2")
    exec('UPDATE users SET team = 2 WHERE id = 2')
    hub.flush()
    expect(canon(applyEvents(s2.events()).values())).toEqual(
      query("SELECT u.name, t.title FROM users u JOIN teams t ON t.id = u.team WHERE t.title LIKE 'c%'"),
    )
  })

  it('replays from a change id and reports a purged window', async () => {
    const { info } = hub.upsert({ sql: 'SELECT id, name FROM users' })
    for (let i = 1; i <= 5; i++) exec('INSERT INTO users (id, name) VALUES (?, ?)', [i, `n${i}`])
    hub.flush()
    const sink = new MemorySink()
    await hub.attach(info.id, sink, { from: 3 })
    expect(sink.events().map((e) => (e['change'] as unknown[])[3])).toEqual([4, 5])
    env.store.purge(info.id, { maxCount: 2, beforeMs: 0 })
    const late = new MemorySink()
    await hub.attach(info.id, late, { from: 1 })
    expect(late.events()).toEqual([{ error: 'subscription already deleted older changes, min change id: 4' }])
  })
})
