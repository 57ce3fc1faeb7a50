import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Registry } from 'prom-client'
import { createMemoryNetwork } from '../../src/transport/memory.js'
import { createVirtualClock } from '../../src/runtime/clock.js'
import { createCluster } from '../../src/runtime/cluster.js'
import { PRESETS } from '../../src/config/presets.js'
import { converged, makeNode, silentLogger, write, type TestNode } from '../helpers.js'

const dirs: string[] = []
const nodes: TestNode[] = []
afterEach(() => {
  for (const n of nodes.splice(0)) n.engine.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('restart', () => {
  it('a restarted node without bootstrap addresses rejoins through the members it remembered, and catches up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patina-restart-'))
    dirs.push(dir)
    const clock = createVirtualClock()
    const net = createMemoryNetwork({ seed: 11, clock, faults: { minDelayMs: 1, maxDelayMs: 5 } })
    const membersPath = join(dir, 'members.json')
    const a = makeNode('a', net.newTransport('a'), { clock, random: net.random })
    const b = makeNode('b', net.newTransport('b'), { clock, random: net.random, bootstrap: ['a'] })
    const c = makeNode('c', net.newTransport('c'), {
      clock,
      random: net.random,
      bootstrap: ['b'],
      membersPath,
    })
    nodes.push(a, b, c)
    for (const n of [a, b, c]) await n.cluster.start()
    expect(
      await clock.runUntil(
        () => [a, b, c].every((n) => n.cluster.members().filter((m) => m.state === 'alive').length === 3),
        10_000,
      ),
    ).toBe(true)
    write(a, 'INSERT INTO kv (k, v) VALUES (1, ?)', ['one'])
    expect(await clock.runUntil(() => converged([a, b, c]), 10_000)).toBe(true)

    await Promise.all([c.cluster.stop(), clock.advance(3000)])
    expect(
      await clock.runUntil(
        () => a.cluster.members().find((m) => m.peer_id === 'c')?.state === 'left',
        10_000,
      ),
    ).toBe(true)
    write(a, 'INSERT INTO kv (k, v) VALUES (2, ?)', ['two'])
    write(b, 'INSERT INTO kv (k, v) VALUES (3, ?)', ['three'])
    await clock.advance(2000)

    // same database and identity, no bootstrap list: only the members file knows the cluster
    const again = createCluster(
      {
        engine: c.engine,
        transport: c.transport,
        logger: silentLogger,
        registry: new Registry(),
        clock,
        random: net.random,
      },
      { preset: PRESETS.test, clusterId: 'test', membersPath },
    )
    await again.start()
    const restarted = { ...c, cluster: again }
    expect(await clock.runUntil(() => converged([a, b, restarted]), 30_000)).toBe(true)
    expect(
      await clock.runUntil(
        () => a.cluster.members().find((m) => m.peer_id === 'c')?.state === 'alive',
        10_000,
      ),
    ).toBe(true)
    await Promise.all([a.cluster.stop(), b.cluster.stop(), again.stop(), clock.advance(3000)])
  })
})
