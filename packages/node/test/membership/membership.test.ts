import { describe, expect, it } from 'vitest'
import pino from 'pino'
import { Registry } from 'prom-client'
import { createMemoryNetwork } from '../../src/transport/memory.js'
import { createVirtualClock } from '../../src/runtime/clock.js'
import { clusterMetrics } from '../../src/runtime/metrics.js'
import { createMembership, type Membership, type MembershipOptions } from '../../src/membership/membership.js'
import { membershipMetrics } from '../../src/membership/metrics.js'
import { PRESETS } from '../../src/config/presets.js'

const logger = pino({ level: 'silent' })

const OPTS: Omit<MembershipOptions, 'clusterId' | 'self' | 'bootstrap'> = {
  ...PRESETS.test.membership,
  persistDebounceMs: 100,
}

async function setup(n: number, seed: number) {
  const clock = createVirtualClock()
  const net = createMemoryNetwork({ seed, clock, faults: { minDelayMs: 1, maxDelayMs: 5 } })
  const nodes: { name: string; m: Membership; registry: Registry }[] = []
  for (let i = 0; i < n; i++) {
    const name = `n${i}`
    const transport = net.newTransport(name)
    await transport.start()
    const registry = new Registry()
    const m = createMembership(
      {
        transport,
        logger,
        metrics: clusterMetrics(registry),
        memberMetrics: membershipMetrics(registry),
        clock,
        random: net.random,
        dbVersion: () => 0,
      },
      {
        ...OPTS,
        clusterId: 'c1',
        self: { actorId: `actor-${i}`, apiAddr: null, region: 'r', role: 'worker' },
        bootstrap: i === 0 ? [] : ['n0'],
      },
    )
    nodes.push({ name, m, registry })
  }
  for (const x of nodes) await x.m.start()
  return { clock, net, nodes }
}

const stateOf = (m: Membership, actor: string) => m.members().find((x) => x.actor_id === actor)?.state

describe('membership (in-memory network, virtual time)', () => {
  it('every node learns every member through one bootstrap address', async () => {
    const { clock, nodes } = await setup(6, 1)
    const ok = await clock.runUntil(
      () => nodes.every((x) => x.m.members().filter((y) => y.state === 'alive').length === 6),
      10_000,
    )
    expect(ok).toBe(true)
    for (const x of nodes) await x.m.stop()
  })

  it('a partitioned member goes suspect then down, and comes back alive after healing', async () => {
    const { clock, net, nodes } = await setup(5, 2)
    await clock.runUntil(() => nodes.every((x) => x.m.alive().length === 4), 10_000)
    const names = nodes.map((x) => x.name)
    net.partition(['n4'], names.slice(0, 4))
    const others = nodes.slice(0, 4)
    expect(await clock.runUntil(() => others.every((x) => stateOf(x.m, 'actor-4') === 'down'), 60_000)).toBe(
      true,
    )
    // and n4 sees everyone else down
    expect(await clock.runUntil(() => nodes[4]!.m.alive().length === 0, 60_000)).toBe(true)
    net.heal()
    expect(
      await clock.runUntil(() => nodes.every((x) => x.m.members().every((y) => y.state === 'alive')), 60_000),
    ).toBe(true)
    const transitions = await nodes[0]!.registry.getSingleMetricAsString(
      'patina_membership_transitions_total',
    )
    expect(transitions).toContain('to="down"')
    for (const x of nodes) await x.m.stop()
  })

  it('refutes a false suspicion by raising its incarnation', async () => {
    const { clock, net, nodes } = await setup(4, 3)
    await clock.runUntil(() => nodes.every((x) => x.m.alive().length === 3), 10_000)
    const before = nodes[3]!.m.self().incarnation
    // n0 cannot reach n3 (one-way), but n1 and n2 can: indirect probes keep n3 alive,
    // and any suspicion that leaks is refuted
    net.partition(['n0'], ['n3'])
    await clock.advance(5_000)
    net.heal()
    await clock.runUntil(() => nodes.every((x) => x.m.members().every((y) => y.state === 'alive')), 30_000)
    expect(nodes.every((x) => x.m.members().every((y) => y.state === 'alive'))).toBe(true)
    expect(nodes[3]!.m.self().incarnation).toBeGreaterThanOrEqual(before)
    for (const x of nodes) await x.m.stop()
  })
})
