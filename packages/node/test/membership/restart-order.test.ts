/**
 * Issue 14: restarts in awkward orders, on the in-memory network under virtual time.
 * - A seed that the others have declared down comes back at a new address: found again through
 *   its bootstrap name (resolved on every attempt), or by itself through the members it remembers.
 * - A whole cluster restarts at once, nodes coming up in random order.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createMemoryNetwork } from '../../src/transport/memory.js'
import { createVirtualClock, randomInt, seededRandom, shuffled } from '../../src/runtime/clock.js'
import { converged, makeNode, write, type TestNode } from '../helpers.js'

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'patina-restart-order-'))
  dirs.push(d)
  return d
}

const aliveCount = (n: TestNode): number => n.cluster.members().filter((m) => m.state === 'alive').length
const stateOf = (n: TestNode, actor: string): string | undefined =>
  n.cluster.members().find((m) => m.actor_id === actor)?.state

describe('a seed declared down comes back at a new address', () => {
  it.each([
    ['found by the others through its name, resolved again on every attempt', 'by-name'],
    ['finds the others itself through the members it remembers', 'by-memory'],
  ] as const)('%s', async (_label, how) => {
    const clock = createVirtualClock()
    const net = createMemoryNetwork({ seed: 5, clock, faults: { minDelayMs: 1, maxDelayMs: 8 } })
    let seedAddr = 'seed@1'
    // "seed.test" is a host name whose address changes when the seed moves
    const resolve = async (entry: string): Promise<string[]> => (entry === 'seed.test' ? [seedAddr] : [entry])
    const membersPath = how === 'by-memory' ? join(tempDir(), 'members.json') : undefined
    const seed = makeNode('seed', net.newTransport(seedAddr), {
      clock,
      random: net.random,
      ...(membersPath !== undefined ? { membersPath } : {}),
    })
    const others = ['a', 'b', 'c'].map((n) =>
      makeNode(n, net.newTransport(n), {
        clock,
        random: net.random,
        bootstrap: [how === 'by-name' ? 'seed.test' : 'seed@1'],
        resolve,
      }),
    )
    const all = [seed, ...others]
    try {
      for (const n of all) await n.cluster.start()
      expect(await clock.runUntil(() => all.every((n) => aliveCount(n) === 4), 10_000)).toBe(true)
      write(seed, 'INSERT INTO kv (k, v) VALUES (1, ?)', ['before'])
      expect(await clock.runUntil(() => converged(all), 10_000)).toBe(true)

      // the seed's machine goes away: the others declare it down
      net.partition([seedAddr], ['a', 'b', 'c'])
      const actor = seed.engine.actorId
      expect(await clock.runUntil(() => others.every((n) => stateOf(n, actor) === 'down'), 60_000)).toBe(true)
      await Promise.all([seed.cluster.stop(), clock.advance(3000)])
      write(others[0] as TestNode, 'INSERT INTO kv (k, v) VALUES (2, ?)', ['while away'])

      // …and comes back, same database, at a new address the others were never told about
      seedAddr = 'seed@2'
      const restarted = makeNode('seed', net.newTransport(seedAddr), {
        clock,
        random: net.random,
        engine: seed.engine,
        ...(membersPath !== undefined ? { membersPath } : {}),
      })
      await restarted.cluster.start()
      write(restarted, 'INSERT INTO kv (k, v) VALUES (3, ?)', ['after'])
      const now = [restarted, ...others]
      expect(
        await clock.runUntil(
          () => now.every((n) => stateOf(n, actor) === 'alive' && aliveCount(n) === 4) && converged(now),
          30_000,
        ),
      ).toBe(true)
      await Promise.all([...now.map((n) => n.cluster.stop()), clock.advance(5000)])
    } finally {
      for (const n of all) n.engine.close()
    }
  })
})

describe('a whole cluster restarts at once, in random order', () => {
  it.each([11, 12, 13, 14, 15, 16])(
    'seed %i: one cluster again, with every write everywhere',
    async (seed) => {
      const r = seededRandom(seed)
      const clock = createVirtualClock()
      const net = createMemoryNetwork({ seed, clock, faults: { minDelayMs: 1, maxDelayMs: 8 } })
      const dir = tempDir()
      const n = 5
      // each node lists one other (a chain), and remembers members on disk
      const names = Array.from({ length: n }, (_, i) => `n${i}`)
      const transports = names.map((x) => net.newTransport(x))
      const first = names.map((x, i) =>
        makeNode(x, transports[i]!, {
          clock,
          random: net.random,
          bootstrap: i === 0 ? [] : [names[i - 1] as string],
          membersPath: join(dir, `${x}.json`),
        }),
      )
      try {
        for (const x of first) await x.cluster.start()
        expect(await clock.runUntil(() => first.every((x) => aliveCount(x) === n), 15_000)).toBe(true)
        first.forEach((x, i) => write(x, 'INSERT INTO kv (k, v) VALUES (?, ?)', [i, x.name]))
        expect(await clock.runUntil(() => converged(first), 10_000)).toBe(true)

        // everyone stops at once (a power cut: no time for goodbyes to matter)…
        await Promise.all([...first.map((x) => x.cluster.stop()), clock.advance(3000)])
        // …and comes back in random order, with random pauses, writing as soon as it is up
        const again = first.map((x, i) =>
          makeNode(x.name, x.transport, {
            clock,
            random: net.random,
            engine: x.engine,
            bootstrap: i === 0 ? [] : [names[i - 1] as string],
            membersPath: join(dir, `${x.name}.json`),
          }),
        )
        for (const i of shuffled([...again.keys()], r)) {
          await clock.advance(randomInt(r, 1500))
          await again[i]!.cluster.start()
          write(again[i]!, 'INSERT INTO kv (k, v) VALUES (?, ?)', [100 + i, `${again[i]!.name} again`])
        }
        expect(
          await clock.runUntil(() => again.every((x) => aliveCount(x) === n) && converged(again), 15_000),
          `seed ${seed}: ${again.map((x) => `${x.name} sees ${aliveCount(x)} alive`).join(', ')}`,
        ).toBe(true)
        expect(JSON.parse(dumpRows(again[0]!)).length).toBe(2 * n)
        await Promise.all([...again.map((x) => x.cluster.stop()), clock.advance(5000)])
      } finally {
        for (const x of first) x.engine.close()
      }
    },
  )
})

const dumpRows = (x: TestNode): string => JSON.stringify([...x.engine.query('SELECT k FROM kv').rows])
