import { describe, expect, it } from 'vitest'
import { createMemoryNetwork } from '../../src/transport/memory.js'
import { createVirtualClock } from '../../src/runtime/clock.js'
import type { TopicMessage, Transport } from '../../src/transport/transport.js'

async function trio(seed: number, faults = {}) {
  const clock = createVirtualClock()
  const net = createMemoryNetwork({ seed, clock, faults })
  const ts = ['a', 'b', 'c'].map((n) => net.newTransport(n))
  const got = new Map<string, TopicMessage[]>()
  for (const t of ts) {
    await t.start()
    t.subscribe('t')
    got.set(t.peerId, [])
    t.onMessage((m) => got.get(t.peerId)?.push(m))
  }
  return { clock, net, ts: ts as [Transport, Transport, Transport], got }
}

describe('in-memory network', () => {
  it('floods topic messages over connections, forwarding through intermediate nodes', async () => {
    const { clock, ts, got } = await trio(1)
    const [a, b, c] = ts
    await Promise.all([a.dial('b'), clock.advance(10)])
    await Promise.all([b.dial('c'), clock.advance(10)])
    expect(a.connectedPeers()).toEqual(['b'])
    await a.publish('t', new Uint8Array([7]))
    await clock.advance(20)
    expect(got.get('b')?.map((m) => m.from)).toEqual(['a'])
    expect(got.get('c')?.map((m) => [...m.data])).toEqual([[7]])
    expect(got.get('a')).toEqual([])
    void c
  })

  it('drops, duplicates and reorders reproducibly from the seed', async () => {
    const run = async (seed: number) => {
      const { clock, ts, got } = await trio(seed, {
        dropRate: 0.3,
        duplicateRate: 0.3,
        minDelayMs: 0,
        maxDelayMs: 50,
      })
      await Promise.all([ts[0].dial('b'), clock.advance(100)])
      for (let i = 0; i < 200; i++) await ts[0].publish('t', new Uint8Array([i]))
      await clock.advance(200)
      return (got.get('b') ?? []).map((m) => m.data[0])
    }
    const first = await run(5)
    expect(await run(5)).toEqual(first)
    expect(first.length).toBeLessThan(200 * 1.3 + 1)
    expect(new Set(first).size).toBeLessThan(200) // some lost
    expect(first.length).toBeGreaterThan(new Set(first).size) // some duplicated
    const sorted = [...first].sort((x, y) => (x ?? 0) - (y ?? 0))
    expect(first).not.toEqual(sorted) // some reordered
  })

  it('one-way blocks lose messages in one direction only; two-way partitions close connections', async () => {
    const { clock, net, ts, got } = await trio(2)
    const [a, b] = ts
    await Promise.all([a.dial('b'), clock.advance(10)])
    net.partition(['a'], ['b'], { oneWay: true })
    await a.publish('t', new Uint8Array([1]))
    await b.publish('t', new Uint8Array([2]))
    await clock.advance(20)
    expect(got.get('b')).toEqual([])
    expect(got.get('a')?.map((m) => m.data[0])).toEqual([2])
    await expect(Promise.all([a.ping('b', { timeoutMs: 50 }), clock.advance(100)])).rejects.toThrow(
      /timed out/,
    )
    net.partition(['a'], ['b'])
    expect(a.connectedPeers()).toEqual([])
    await expect(Promise.all([b.dial('a'), clock.advance(100)])).rejects.toThrow(/unreachable/)
    net.heal()
    await Promise.all([b.dial('a'), clock.advance(100)])
    expect(b.connectedPeers()).toEqual(['a'])
  })

  it('streams are reliable, ordered, and apply backpressure to a sender whose peer does not read', async () => {
    const clock = createVirtualClock()
    const net = createMemoryNetwork({
      seed: 3,
      clock,
      faults: { minDelayMs: 0, maxDelayMs: 20 },
      streamHighWaterFrames: 4,
    })
    const a = net.newTransport('a')
    const b = net.newTransport('b')
    await a.start()
    await b.start()
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const received: number[] = []
    b.handle('/x', async (s) => {
      await gate
      for await (const f of s.frames()) received.push(f[0] ?? -1)
    })
    const [s] = await Promise.all([a.openStream('b', '/x'), clock.advance(100)])
    let sent = 0
    const sending = (async () => {
      for (let i = 0; i < 20; i++) {
        await s.send(new Uint8Array([i]))
        sent++
      }
      await s.close()
    })()
    await clock.advance(500)
    expect(sent).toBe(4)
    release()
    await clock.advance(2000)
    await sending
    await clock.advance(100)
    expect(received).toEqual(Array.from({ length: 20 }, (_, i) => i))
  })
})
