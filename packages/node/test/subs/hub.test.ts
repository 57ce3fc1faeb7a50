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

describe('subscription hub lifecycle and cost', () => {
  it('does no work for changes to tables or columns a subscription does not read', async () => {
    const { Registry } = await import('prom-client')
    const registry = new Registry()
    hub.close()
    hub = createSubscriptionHub({ engine: env.engine, store: env.store, logger: env.logger, registry })
    exec("INSERT INTO users (id, name, score) VALUES (1, 'a', 1.0)")
    const { info } = hub.upsert({ sql: 'SELECT id, name FROM users WHERE team IS NULL' })
    await hub.attach(info.id, new MemorySink())
    const runs = async (): Promise<number> => {
      const m = (await registry.getSingleMetricAsString('patina_subscription_process_seconds')).match(
        /patina_subscription_process_seconds_count\{maintenance="incremental"\} (\d+)/,
      )
      return Number(m?.[1] ?? 0)
    }
    const before = await runs()
    exec('UPDATE users SET score = 2.0 WHERE id = 1')
    exec("INSERT INTO teams (id, title) VALUES (1, 'x')")
    hub.flush()
    expect(await runs()).toBe(before)
    exec("UPDATE users SET name = 'b' WHERE id = 1")
    hub.flush()
    expect(await runs()).toBe(before + 1)
  })

  it('collects subscriptions idle for idleMs and keeps those with listeners', async () => {
    let now = 1_000
    hub.close()
    hub = createSubscriptionHub(
      { engine: env.engine, store: env.store, logger: env.logger, now: () => now },
      { idleMs: 10_000 },
    )
    const idle = hub.upsert({ sql: 'SELECT id FROM users' }).info
    const busy = hub.upsert({ sql: 'SELECT id FROM teams' }).info
    const sink = new MemorySink()
    await hub.attach(busy.id, sink)
    now += 9_999
    hub.gc()
    expect(hub.get(idle.id)).toBeDefined()
    now += 1
    hub.gc()
    expect(hub.get(idle.id)).toBeUndefined()
    expect(env.store.get(idle.id)).toBeUndefined()
    expect(hub.get(busy.id)).toBeDefined()
    sink.end()
    now += 10_000
    hub.gc()
    expect(hub.get(busy.id)).toBeUndefined()
  })

  it('re-runs what it cannot maintain incrementally, naming why', () => {
    const reason = (sql: string) => {
      const { info } = hub.upsert({ sql })
      expect(info.maintenance, sql).toBe('rerun')
      return info.rerunReason
    }
    expect(reason('SELECT u.id FROM users u LEFT JOIN teams t ON t.id = u.team WHERE t.region = 1')).toMatch(
      /WHERE condition on left-joined table t/,
    )
    expect(
      reason('SELECT u.id FROM users u LEFT JOIN teams t ON t.id = u.team JOIN tags g ON g.user_id = u.id'),
    ).toMatch(/inner join \(of tags\) after a left join/)
    expect(reason('SELECT id FROM users GROUP BY id')).toMatch(/GROUP BY/)
    expect(reason('WITH x AS (SELECT 1) SELECT * FROM users')).toMatch(/WITH/)
    expect(reason('SELECT id FROM users WHERE id IN (SELECT team FROM users)')).toMatch(/subquery/)
    expect(hub.upsert({ sql: 'SELECT id, name FROM users WHERE team = 1' }).info.maintenance).toBe(
      'incremental',
    )
  })
})
