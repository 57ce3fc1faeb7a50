/**
 * Issue 14, membership under CPU pressure: nodes whose event loop is blocked (the in-memory
 * network's `pause`: nothing is answered, no timer runs, and on resuming the node's own
 * timers fire before it reads what arrived — as in Node), with LAN timings under virtual time.
 * - A pause shorter than the suspicion timeout never gets a node declared down, and the paused
 *   node, waking up to a pile of expired timeouts, suspects nobody.
 * - A pause far longer is a failure, and is detected.
 * - Repeated pauses on every node (a heavily loaded machine) declare nobody down, where the
 *   same run without local health awareness does; the flaps (false suspicions refuted) are
 *   counted and reported, side by side.
 */
import { describe, expect, it } from 'vitest'
import { createMemoryNetwork } from '../../src/transport/memory.js'
import { createVirtualClock, randomInt, seededRandom } from '../../src/runtime/clock.js'
import { makeNode, metricValue, type TestNode } from '../helpers.js'
import type { ClusterTuning } from '../../src/runtime/cluster.js'
import { PRESETS } from '../../src/config/presets.js'

type MembershipTuning = ClusterTuning['membership']

async function pausable(n: number, seed: number, membership: Partial<MembershipTuning> = {}) {
  const clock = createVirtualClock()
  const net = createMemoryNetwork({ seed, clock, faults: { minDelayMs: 1, maxDelayMs: 10 } })
  const nodes = Array.from({ length: n }, (_, i) =>
    makeNode(`n${i}`, net.newTransport(`n${i}`), {
      preset: PRESETS.lan,
      membership,
      clock: net.clockFor(`n${i}`),
      random: net.random,
      bootstrap: i === 0 ? [] : ['n0'],
    }),
  )
  for (const x of nodes) await x.cluster.start()
  const allAlive = (): boolean =>
    nodes.every((x) => x.cluster.members().filter((m) => m.state === 'alive').length === n)
  if (!(await clock.runUntil(allAlive, 20_000))) throw new Error('cluster did not form')
  await clock.advance(5000)
  const sum = async (name: string, labels: Record<string, string> = {}): Promise<number> =>
    (await Promise.all(nodes.map((x) => metricValue(x.registry, name, labels)))).reduce((a, b) => a + b, 0)
  const stop = async (): Promise<void> => {
    await Promise.all([...nodes.map((x) => x.cluster.stop()), clock.advance(10_000)])
    for (const x of nodes) x.engine.close()
  }
  return { clock, net, nodes, allAlive, sum, stop }
}

const downs = (x: TestNode) => metricValue(x.registry, 'patina_membership_transitions_total', { to: 'down' })

/**
 * LAN timings (probe 1 s, timeout 0.5 s, suspicion_mult 4): a member is declared down 4 s after
 * it is first suspected (with confirmations), and suspected about 1–2 s after it stops
 * answering, so pauses up to 4 s must pass unnoticed apart from a refuted suspicion.
 */
const TOLERATED_MS = 4000

describe('membership under CPU pressure (paused event loops, LAN timings)', () => {
  it.each([1, 2, 3, 4, 5, 6])(
    `seed %i: pauses up to ${TOLERATED_MS} ms declare nobody down, and the paused node suspects nobody`,
    async (seed) => {
      const c = await pausable(5, seed)
      const r = seededRandom(seed)
      try {
        for (const ms of [1000, 2000, 3000, TOLERATED_MS]) {
          const victim = c.nodes[randomInt(r, c.nodes.length)] as TestNode
          const failedBefore = await metricValue(victim.registry, 'patina_probes_total', { result: 'failed' })
          await c.clock.advance(randomInt(r, 1000))
          c.net.pause(victim.name, ms)
          await c.clock.advance(ms + 15_000)
          expect(await metricValue(victim.registry, 'patina_probes_total', { result: 'failed' })).toBe(
            failedBefore,
          )
          expect(c.allAlive()).toBe(true)
        }
        for (const x of c.nodes) expect(await downs(x), `${x.name} declared someone down`).toBe(0)
        expect(await c.sum('patina_probes_inconclusive_total')).toBeGreaterThan(0)
      } finally {
        await c.stop()
      }
    },
  )

  it('a pause far beyond the suspicion timeout is a failure: the node is declared down, then back (a flap)', async () => {
    const c = await pausable(5, 9)
    try {
      const victim = c.nodes[3] as TestNode
      const actor = victim.engine.actorId
      c.net.pause(victim.name, 20_000)
      const others = c.nodes.filter((x) => x !== victim)
      expect(
        await c.clock.runUntil(
          () => others.every((x) => x.cluster.members().find((m) => m.actor_id === actor)?.state === 'down'),
          20_000,
        ),
      ).toBe(true)
      expect(await c.clock.runUntil(c.allAlive, 30_000)).toBe(true)
      // it never restarted: coming back from down is a flap, counted by the others
      expect(await c.sum('patina_membership_flaps_total', { from: 'down' })).toBeGreaterThanOrEqual(1)
    } finally {
      await c.stop()
    }
  })

  it.each([31])(
    'seed %i: a busy node (blocked 0.1–1.5 s at random, a third of the time) suspects no one, and no one declares it down',
    async (seed) => {
      const c = await pausable(5, seed)
      const r = seededRandom(seed)
      const busy = c.nodes[2] as TestNode
      try {
        for (let t = 0; t < 120_000; t += 500) {
          if (r() < 0.2) c.net.pause(busy.name, 100 + randomInt(r, 1400))
          await c.clock.advance(500)
        }
        await c.clock.advance(20_000)
        // every other node was healthy all along: any failed probe of the busy node is its own fault
        expect(await metricValue(busy.registry, 'patina_probes_total', { result: 'failed' })).toBe(0)
        for (const x of c.nodes) expect(await downs(x), `${x.name} declared someone down`).toBe(0)
        expect(c.allAlive()).toBe(true)
      } finally {
        await c.stop()
      }
    },
  )

  it.each([1, 2, 3])(
    'seed %i: a heavily loaded machine (every node blocked 0.5–3 s, half the time) declares nobody down; without local health awareness it does',
    async (seed) => {
      const run = async (aware: boolean) => {
        const c = await pausable(5, seed, aware ? {} : { awarenessMaxMultiplier: 1 })
        const r = seededRandom(seed)
        let maxScore = 0
        try {
          for (let t = 0; t < 120_000; t += 500) {
            for (const x of c.nodes) if (r() < 0.3) c.net.pause(x.name, 500 + randomInt(r, 2500))
            await c.clock.advance(500)
            for (const x of c.nodes)
              maxScore = Math.max(maxScore, await metricValue(x.registry, 'patina_membership_health_score'))
          }
          await c.clock.advance(30_000)
          return {
            allAlive: c.allAlive(),
            downs: await c.sum('patina_membership_transitions_total', { to: 'down' }),
            flaps: await c.sum('patina_membership_flaps_total'),
            inconclusive: await c.sum('patina_probes_inconclusive_total'),
            maxScore,
          }
        } finally {
          await c.stop()
        }
      }
      const on = await run(true)
      const off = await run(false)
      process.stderr.write(
        `[pause] seed ${seed}, 5 nodes blocked 0.5–3 s half the time for 120 s: with local health awareness ${on.flaps} flaps, ${on.downs} down, ${on.inconclusive} inconclusive rounds, health score up to ${on.maxScore}; without it ${off.flaps} flaps, ${off.downs} down\n`,
      )
      expect(on.downs).toBe(0)
      expect(on.allAlive).toBe(true)
      expect(on.maxScore).toBeGreaterThan(0)
      expect(off.downs).toBeGreaterThan(0) // the scenario is hard enough to matter
      expect(on.flaps).toBeLessThan(off.flaps)
    },
  )
})
