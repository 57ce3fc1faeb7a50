/** The link models of the in-memory network (`link-model.ts`), its blocks, and a custom model plugged into it. */
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_MEMORY_FAULTS,
  uniformHop,
  uniformLinks,
  type Hop,
  type LinkModel,
} from '../../src/transport/link-model.js'
import { createBlocks } from '../../src/transport/memory-blocks.js'
import { createMemoryNetwork } from '../../src/transport/memory.js'
import { createVirtualClock } from '../../src/runtime/clock.js'
import type { TopicMessage } from '../../src/transport/transport.js'

/** A random source that returns `draws` in order and fails when asked for more. */
const scripted = (draws: number[]) => {
  let i = 0
  return () => {
    if (i >= draws.length) throw new Error(`asked for draw ${i + 1} of ${draws.length}`)
    return draws[i++] as number
  }
}

describe('uniformHop', () => {
  const faults = { dropRate: 0.2, duplicateRate: 0.1, minDelayMs: 10, maxDelayMs: 30 }
  it.each([
    // kind, draws, fate
    ['topic lost', 'topic', [0.1], []],
    ['topic delivered once', 'topic', [0.5, 0.5, 0.25], [15]],
    ['topic duplicated, each copy its own delay', 'topic', [0.5, 0.05, 0, 1], [10, 30]],
    ['topic at the loss threshold is kept', 'topic', [0.2, 0.1, 0.5], [20]],
    ['frame: one delay, never lost', 'frame', [0.5], [20]],
    ['open: one delay', 'open', [0], [10]],
    ['dial: a round trip', 'dial', [0.5], [40]],
    ['ping: a round trip', 'ping', [1], [60]],
  ] as const)('%s', (_name, kind, draws, fate) => {
    const random = scripted([...draws])
    expect(uniformHop(faults, kind, random)).toEqual(fate)
  })

  it('delays by minDelayMs when the range is empty or inverted', () => {
    expect(uniformHop({ ...faults, maxDelayMs: 5 }, 'frame', () => 0.9)).toEqual([10])
  })

  it('uniformLinks starts from the defaults and takes new faults at run time', () => {
    const links = uniformLinks({ maxDelayMs: 4 })
    expect(links.faults).toEqual({ ...DEFAULT_MEMORY_FAULTS, maxDelayMs: 4 })
    links.setFaults({ dropRate: 1 })
    const hop: Hop = { kind: 'topic', from: 'a', to: 'b', topic: 't' }
    expect(links.hop(hop, () => 0.5)).toEqual([])
  })
})

describe('blocks', () => {
  it.each([
    // what was done, link asked, blocked?
    ['block a→b', (b: ReturnType<typeof createBlocks>) => b.block('a', 'b'), ['a', 'b'], true],
    ['block a→b, other way', (b: ReturnType<typeof createBlocks>) => b.block('a', 'b'), ['b', 'a'], false],
    [
      'partition both ways',
      (b: ReturnType<typeof createBlocks>) => b.partition(['a', 'c'], ['b'], false),
      ['b', 'c'],
      true,
    ],
    [
      'partition one way, forward',
      (b: ReturnType<typeof createBlocks>) => b.partition(['a'], ['b'], true),
      ['a', 'b'],
      true,
    ],
    [
      'partition one way, back',
      (b: ReturnType<typeof createBlocks>) => b.partition(['a'], ['b'], true),
      ['b', 'a'],
      false,
    ],
    [
      'inside one side',
      (b: ReturnType<typeof createBlocks>) => b.partition(['a', 'c'], ['b'], false),
      ['a', 'c'],
      false,
    ],
    [
      'unblock lifts one link of a partition',
      (b: ReturnType<typeof createBlocks>) => (b.partition(['a'], ['b'], false), b.unblock('a', 'b')),
      ['a', 'b'],
      false,
    ],
    [
      '…but not the other direction',
      (b: ReturnType<typeof createBlocks>) => (b.partition(['a'], ['b'], false), b.unblock('a', 'b')),
      ['b', 'a'],
      true,
    ],
    [
      'a later partition covers a lifted link again',
      (b: ReturnType<typeof createBlocks>) => (
        b.partition(['a'], ['b'], false),
        b.unblock('a', 'b'),
        b.partition(['a'], ['b', 'c'], true)
      ),
      ['a', 'b'],
      true,
    ],
    [
      'heal clears everything',
      (b: ReturnType<typeof createBlocks>) => (b.block('a', 'b'), b.partition(['a'], ['b'], false), b.heal()),
      ['a', 'b'],
      false,
    ],
  ] as const)('%s', (_name, act, [from, to], blocked) => {
    const b = createBlocks()
    act(b)
    expect(b.isBlocked(from, to)).toBe(blocked)
  })
})

describe('a custom link model in the memory network', () => {
  // two regions: a* and b*; 5 ms inside one, 40 ms across; the mesh is a1-a2-b1 (no a1-b1);
  // topic "quiet" is not carried, protocol /refused is refused
  const regionOf = (n: string): string => n.slice(0, 1)
  const links: LinkModel = {
    carriesTopics: (x, y) => !(new Set([x, y]).has('a1') && new Set([x, y]).has('b1')),
    hop(h) {
      if (h.kind === 'topic' && h.topic === 'quiet') return []
      if (h.kind === 'open' && h.protocol === '/refused') return []
      const oneWay = regionOf(h.from) === regionOf(h.to) ? 5 : 40
      return h.kind === 'dial' || h.kind === 'ping' ? [2 * oneWay] : [oneWay]
    },
  }
  const setup = async () => {
    const clock = createVirtualClock()
    const net = createMemoryNetwork({ seed: 1, clock, links })
    const names = ['a1', 'a2', 'b1']
    const ts = names.map((n) => net.newTransport(n))
    const got: [string, TopicMessage, number][] = []
    const t0 = clock.now()
    for (const t of ts) {
      await t.start()
      t.subscribe('t')
      t.subscribe('quiet')
      t.onMessage((m) => got.push([t.peerId, m, clock.now() - t0]))
    }
    const [a1, a2, b1] = ts as [(typeof ts)[0], (typeof ts)[0], (typeof ts)[0]]
    await Promise.all([a1.dial('a2'), a2.dial('b1'), a1.dial('b1'), clock.advance(100)])
    return { clock, net, a1, a2, b1, got, t0 }
  }

  it('floods over the mesh only, each hop delayed by its pair latency', async () => {
    const { clock, a1, got, t0 } = await setup()
    expect(a1.connectedPeers().sort()).toEqual(['a2', 'b1'])
    const sentAt = clock.now() - t0
    await a1.publish('t', new Uint8Array([1]))
    await a1.publish('quiet', new Uint8Array([2]))
    await clock.advance(200)
    // a1 → a2 (5 ms) → b1 (40 ms); not a1 → b1 directly, though they are connected
    expect(got.map(([at, m, t]) => [at, m.topic, t - sentAt])).toEqual([
      ['a2', 't', 5],
      ['b1', 't', 45],
    ])
  })

  it('pings take the round trip of the pair and refused protocols fail to open', async () => {
    const { clock, a1, b1 } = await setup()
    b1.handle('/refused', async () => {})
    const [rtt] = await Promise.all([a1.ping('b1', { timeoutMs: 1000 }), clock.advance(200)])
    expect(rtt).toBe(80)
    await expect(Promise.all([a1.openStream('b1', '/refused'), clock.advance(200)])).rejects.toThrow(
      /refused by the link/,
    )
    expect(() => createMemoryNetwork({ seed: 1, links, faults: { dropRate: 0.5 } })).toThrow(/not both/)
  })

  it('counts hops, flood duplicates and stream frames', async () => {
    const { clock, net, a1, a2 } = await setup()
    const before = net.stats()
    await a1.publish('t', new Uint8Array([1, 2, 3]))
    a2.handle('/s', async (s) => {
      for await (const _ of s.frames());
    })
    const [s] = await Promise.all([a1.openStream('a2', '/s'), clock.advance(50)])
    await s.send(new Uint8Array(10))
    await s.close()
    await clock.advance(200)
    const after = net.stats()
    // a1 → a2, a2 → b1: two hops of 3 bytes; b1 forwards to nobody new (a1-b1 carries no topics)
    expect(after.topicHops - before.topicHops).toBe(2)
    expect(after.topicBytes - before.topicBytes).toBe(6)
    expect(after.topicSeen - before.topicSeen).toBe(0)
    expect([after.streamFrames - before.streamFrames, after.streamBytes - before.streamBytes]).toEqual([
      1, 10,
    ])
  })

  it('cuts a large partition without a block per pair and closes the links across', async () => {
    const clock = createVirtualClock()
    const net = createMemoryNetwork({ seed: 2, clock })
    const names = Array.from({ length: 400 }, (_, i) => `n${i}`)
    const ts = names.map((n) => net.newTransport(n))
    for (const t of ts) await t.start()
    // a ring
    await Promise.all([
      ...ts.map((t, i) => t.dial(names[(i + 1) % names.length] as string)),
      clock.advance(50),
    ])
    net.partition(names.slice(0, 200), names.slice(200))
    expect(net.isBlocked('n0', 'n399')).toBe(true)
    expect(net.isBlocked('n1', 'n2')).toBe(false)
    expect(ts[199]?.connectedPeers()).toEqual(['n198'])
    expect(ts[0]?.connectedPeers()).toEqual(['n1'])
    net.heal()
    await Promise.all([ts[199]?.dial('n200'), clock.advance(50)])
    expect(ts[199]?.connectedPeers().sort()).toEqual(['n198', 'n200'])
  })
})
