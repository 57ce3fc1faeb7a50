import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Statement } from '@patina/core'
import { createSubscriptionHub, type SubscriptionHub } from '../../src/subs/hub.js'
import { applyEvents, canon, makeEnv, MemorySink, type Env } from './helpers.js'

const QUERIES = [
  `SELECT id, name, team FROM users WHERE score > 0.5 OR name LIKE 'a%'`,
  `SELECT u.id, u.name, t.title FROM users u JOIN teams t ON t.id = u.team WHERE t.region = 'eu' ORDER BY u.name`,
  `SELECT u.id, t.title, coalesce(t.region, 'none') AS region, length(u.name) * 2 AS l FROM users u LEFT JOIN teams t ON t.id = u.team`,
  `SELECT g.tag, u.name, g.note FROM tags g JOIN users u ON u.id = g.user_id WHERE g.tag <> 'z'`,
  `SELECT a.id, b.id AS other FROM users a JOIN users b ON b.team = a.team AND b.id > a.id`,
]

const op = fc.oneof(
  fc
    .record({
      id: fc.integer({ min: 1, max: 6 }),
      name: fc.constantFrom('ann', 'bob', 'al', 'zed'),
      team: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
      score: fc.constantFrom(0.1, 0.9),
    })
    .map((u): Statement => ({
      sql: 'INSERT INTO users (id, name, team, score) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, team = excluded.team, score = excluded.score',
      params: [u.id, u.name, u.team, u.score],
    })),
  fc
    .integer({ min: 1, max: 6 })
    .map((id): Statement => ({ sql: 'DELETE FROM users WHERE id = ?', params: [id] })),
  fc
    .record({
      id: fc.integer({ min: 1, max: 3 }),
      title: fc.constantFrom('red', 'blue'),
      region: fc.constantFrom('eu', 'us', null),
    })
    .map((t): Statement => ({
      sql: 'INSERT INTO teams (id, title, region) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET title = excluded.title, region = excluded.region',
      params: [t.id, t.title, t.region],
    })),
  fc
    .integer({ min: 1, max: 3 })
    .map((id): Statement => ({ sql: 'DELETE FROM teams WHERE id = ?', params: [id] })),
  fc
    .record({
      u: fc.integer({ min: 1, max: 6 }),
      tag: fc.constantFrom('x', 'y', 'z'),
      note: fc.constantFrom('n1', 'n2'),
    })
    .map((g): Statement => ({
      sql: 'INSERT INTO tags (user_id, tag, note) VALUES (?, ?, ?) ON CONFLICT (user_id, tag) DO UPDATE SET note = excluded.note',
      params: [g.u, g.tag, g.note],
    })),
  fc
    .record({ u: fc.integer({ min: 1, max: 6 }), tag: fc.constantFrom('x', 'y', 'z') })
    .map((g): Statement => ({ sql: 'DELETE FROM tags WHERE user_id = ? AND tag = ?', params: [g.u, g.tag] })),
)

const batches = fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 10 })

function expected(env: Env, sql: string): string[] {
  return canon([...env.engine.query(sql).rows])
}

function changeIds(events: Record<string, unknown>[]): number[] {
  return events.filter((e) => 'change' in e).map((e) => (e['change'] as unknown[])[3] as number)
}

/** Client state after the snapshot and every change with id <= upTo. */
function stateAt(events: Record<string, unknown>[], upTo: number): Map<number, unknown[]> {
  return applyEvents(
    events.filter((e) => !('change' in e) || ((e['change'] as unknown[])[3] as number) <= upTo),
  )
}

describe('subscription property', () => {
  it('the event stream applied to an empty map equals the query after every batch; every from resumes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: QUERIES.length - 1 }), batches, async (qi, bs) => {
        const sql = QUERIES[qi] as string
        const env = makeEnv()
        const hub = createSubscriptionHub({ engine: env.engine, store: env.store, logger: env.logger })
        try {
          env.engine.transaction([{ sql: "INSERT INTO teams (id, title, region) VALUES (1, 'red', 'eu')" }])
          const { info } = hub.upsert({ sql })
          const sink = new MemorySink()
          await hub.attach(info.id, sink)
          for (const b of bs) {
            env.engine.transaction(b)
            hub.flush()
            expect(canon(applyEvents(sink.events()).values())).toEqual(expected(env, sql))
          }
          const events = sink.events()
          const ids = changeIds(events)
          expect(ids).toEqual(ids.map((_, i) => i + 1))
          const final = canon(applyEvents(events).values())
          for (let from = 0; from <= ids.length; from++) {
            const resumed = new MemorySink()
            await hub.attach(info.id, resumed, from === 0 ? {} : { from })
            const state = from === 0 ? new Map<number, unknown[]>() : stateAt(events, from)
            expect(canon(applyEvents(resumed.events(), state).values())).toEqual(final)
            resumed.end()
          }
        } finally {
          hub.close()
          env.cleanup()
        }
      }),
      { numRuns: 40 },
    )
  })

  it('a restart in the middle loses nothing, including writes made while the hub was down', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: QUERIES.length - 1 }),
        batches,
        batches,
        fc.array(op, { minLength: 0, maxLength: 3 }),
        async (qi, before, after, whileDown) => {
          const sql = QUERIES[qi] as string
          const env = makeEnv()
          let hub: SubscriptionHub = createSubscriptionHub({
            engine: env.engine,
            store: env.store,
            logger: env.logger,
          })
          try {
            const { info } = hub.upsert({ sql })
            const sink = new MemorySink()
            await hub.attach(info.id, sink)
            for (const b of before) {
              env.engine.transaction(b)
              hub.flush()
            }
            // Stop the hub; commits it never saw happen; then restart everything from disk.
            hub.close()
            if (whileDown.length > 0) env.engine.transaction(whileDown)
            env.reopen()
            hub = createSubscriptionHub({ engine: env.engine, store: env.store, logger: env.logger })
            expect(hub.get(info.id)).toBeDefined()
            const last = Math.max(0, ...changeIds(sink.events()))
            const resumed = new MemorySink()
            // A client that saw no change resumes with from=0, i.e. a fresh snapshot.
            await hub.attach(info.id, resumed, last === 0 ? {} : { from: last })
            for (const b of after) {
              env.engine.transaction(b)
              hub.flush()
            }
            const all = [...sink.events(), ...resumed.events()]
            const ids = changeIds(all)
            if (last > 0) expect(ids).toEqual(ids.map((_, i) => i + 1))
            expect(canon(applyEvents(all).values())).toEqual(expected(env, sql))
          } finally {
            hub.close()
            env.cleanup()
          }
        },
      ),
      { numRuns: 25 },
    )
  })
})
