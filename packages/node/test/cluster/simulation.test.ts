/**
 * Deterministic cluster simulation: 5–20 nodes on the in-memory network under virtual time,
 * with seeded message loss, duplication, reordering (random delays) and partitions, and
 * concurrent writes to the same keys. After healing, every node must hold identical rows.
 *
 * Replay one seed: PATINA_SIM_SEED=<seed> pnpm exec vitest run packages/node/test/cluster/simulation
 * More seeds:      PATINA_SIM_SEEDS=<count> ...
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryNetwork } from '../../src/transport/memory.js'
import { createVirtualClock, randomInt, seededRandom } from '../../src/runtime/clock.js'
import { converged, dump, makeNode, write, type TestNode } from '../helpers.js'

const live: TestNode[] = []
afterEach(async () => {
  for (const n of live.splice(0)) n.engine.close()
})

interface Scenario {
  seed: number
  nodes: number
  dropRate: number
  duplicateRate: number
  maxDelayMs: number
  writes: number
  partition: boolean
  oneWay: boolean
}

function scenarioFor(seed: number, nodes?: number): Scenario {
  const r = seededRandom(seed ^ 0x5eed)
  return {
    seed,
    nodes: nodes ?? 5 + randomInt(r, 8),
    dropRate: 0.05 + r() * 0.25,
    duplicateRate: r() * 0.2,
    maxDelayMs: 5 + randomInt(r, 60),
    writes: 60 + randomInt(r, 60),
    partition: r() < 0.8,
    oneWay: r() < 0.3,
  }
}

async function simulate(s: Scenario, serveSync = true): Promise<{ ok: boolean; detail: string }> {
  const clock = createVirtualClock()
  const net = createMemoryNetwork({
    seed: s.seed,
    clock,
    faults: { dropRate: s.dropRate, duplicateRate: s.duplicateRate, minDelayMs: 1, maxDelayMs: s.maxDelayMs },
  })
  const rnd = seededRandom(s.seed)
  const nodes: TestNode[] = []
  for (let i = 0; i < s.nodes; i++) {
    const name = `n${i}`
    const node = makeNode(name, net.newTransport(name), {
      clock,
      random: net.random,
      bootstrap: i === 0 ? [] : [`n${randomInt(rnd, i)}`],
      ...(serveSync ? {} : { sync: { maxConcurrentServe: 0 } }),
    })
    nodes.push(node)
    live.push(node)
  }
  for (const n of nodes) await n.cluster.start()
  await clock.advance(2000)

  const names = nodes.map((n) => n.name)
  const cut = 1 + randomInt(rnd, s.nodes - 1)
  const groupA = names.slice(0, cut)
  const groupB = names.slice(cut)
  const writeRandom = (): void => {
    const node = nodes[randomInt(rnd, nodes.length)] as TestNode
    const k = randomInt(rnd, 40)
    const roll = rnd()
    if (roll < 0.1) write(node, 'DELETE FROM kv WHERE k = ?', [k])
    else if (roll < 0.3) write(node, 'UPDATE kv SET n = n + 1 WHERE k = ?', [k])
    else
      write(node, 'INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v', [
        k,
        `${node.name}-${randomInt(rnd, 1e6)}`,
      ])
  }

  for (let w = 0; w < s.writes; w++) {
    if (s.partition && w === Math.floor(s.writes / 3)) net.partition(groupA, groupB, { oneWay: s.oneWay })
    if (s.partition && w === Math.floor((2 * s.writes) / 3)) net.heal()
    writeRandom()
    await clock.advance(randomInt(rnd, 100))
  }
  net.heal()
  // converge: check every 500 ms of virtual time, for at most 120 s
  let ok = false
  for (let t = 0; t < 120_000 && !ok; t += 500) {
    await clock.advance(500)
    ok = converged(nodes)
  }
  const detail = ok ? '' : nodes.map((n) => `${n.name}: ${dump(n.engine).slice(0, 200)}`).join('\n')
  // stop() waits on the (virtual) clock for the leave announcement: drive it meanwhile
  await Promise.all([...nodes.map((n) => n.cluster.stop()), clock.advance(5000)])
  return { ok, detail }
}

const single = process.env['PATINA_SIM_SEED']
const count = Number(process.env['PATINA_SIM_SEEDS'] ?? 12)
const seeds =
  single !== undefined ? [Number(single)] : Array.from({ length: count }, (_, i) => 1000 + i * 7919)

// Simulated time runs as fast as the CPU allows: a bound generous enough for a loaded machine.
const BOUND_MS = 120_000

describe('cluster simulation (in-memory network, seeded faults)', () => {
  it.each(seeds)(
    'seed %i converges after partitions heal',
    async (seed) => {
      const s = scenarioFor(seed)
      const { ok, detail } = await simulate(s)
      expect(
        ok,
        `seed ${seed} did not converge (${JSON.stringify(s)}); replay with PATINA_SIM_SEED=${seed}\n${detail}`,
      ).toBe(true)
    },
    BOUND_MS,
  )

  it(
    'control: without anti-entropy, the same faults leave nodes diverged',
    async () => {
      const s = { ...scenarioFor(1000, 8), dropRate: 0.3, partition: true, oneWay: false }
      const { ok } = await simulate(s, false)
      expect(ok).toBe(false)
    },
    BOUND_MS,
  )

  it(
    '20 nodes converge under loss, duplication and a partition',
    async () => {
      const s = { ...scenarioFor(424242, 20), partition: true, oneWay: false }
      const { ok } = await simulate(s)
      expect(ok, `seed ${s.seed} did not converge; replay with PATINA_SIM_SEED=${s.seed}`).toBe(true)
    },
    BOUND_MS,
  )
})
