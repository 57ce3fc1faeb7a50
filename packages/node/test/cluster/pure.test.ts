import { describe, expect, it } from 'vitest'
import type { SyncState } from '@patina/core'
import {
  choosePeers,
  jittered,
  needScore,
  nextBaseIntervalMs,
  type SyncCandidate,
} from '../../src/sync/plan.js'
import { flushDelayMs, packGroups } from '../../src/broadcast/batch.js'
import { changesetKey, createSeenCache } from '../../src/broadcast/seen.js'
import { decodeEnvelope, encodeEnvelope, MessageKind, MessageRejectedError } from '../../src/wire/envelope.js'
import { toMultiaddrString } from '../../src/transport/address.js'
import { decodeFrames, encodeFrame } from '../../src/wire/framing.js'
import { seededRandom, shuffled } from '../../src/runtime/clock.js'
import { resolveClusterTuning } from '../../src/runtime/cluster.js'
import { PRESETS } from '../../src/config/presets.js'

const state = (
  heads: Record<string, number>,
  need: SyncState['need'] = {},
  partialNeed: SyncState['partialNeed'] = {},
): SyncState => ({
  actorId: 'me',
  heads,
  need,
  partialNeed,
})
const cand = (
  peerId: string,
  actorId: string | null,
  dbVersion: number,
  lastSyncAtMs: number | null = null,
): SyncCandidate => ({
  peerId,
  actorId,
  dbVersion,
  lastSyncAtMs,
})

describe('sync plan', () => {
  it('scores what we need from a member: versions beyond our head, gaps and partials', () => {
    const ours = state({ a: 10 }, { a: [[3, 5]] }, { a: { 7: [[0, 2]] } })
    expect(needScore(ours, cand('p', 'a', 15))).toBe(5 + 3 + 1)
    expect(needScore(ours, cand('p', 'a', 4))).toBe(3 + 1)
    expect(needScore(ours, cand('p', 'b', 7))).toBe(7)
    expect(needScore(ours, cand('p', null, 100))).toBe(0)
  })

  it('prefers the members we need most from, then the least recently synced', () => {
    const ours = state({ a: 10, b: 10, c: 10 })
    const cs = [cand('pa', 'a', 10, 5), cand('pb', 'b', 50), cand('pc', 'c', 20), cand('pd', 'd', 10, 1)]
    // with a sample of 2 × 2 = 4, every candidate is considered
    const chosen = choosePeers(ours, cs, 2, seededRandom(1)).map((c) => c.peerId)
    expect(chosen).toEqual(['pb', 'pc'])
    const inSync = choosePeers(
      state({ a: 10, d: 10 }),
      [cand('pa', 'a', 10, 500), cand('pd', 'd', 10, 100)],
      1,
      seededRandom(2),
    )
    expect(inSync.map((c) => c.peerId)).toEqual(['pd'])
  })

  it('samples at most 2 × peersPerRound and never returns more than peersPerRound', () => {
    const cs = Array.from({ length: 50 }, (_, i) => cand(`p${i}`, `a${i}`, i))
    const chosen = choosePeers(state({}), cs, 3, seededRandom(3))
    expect(chosen).toHaveLength(3)
    expect(choosePeers(state({}), [], 3, seededRandom(3))).toEqual([])
  })

  it.each([
    [1000, 'received', 1000],
    [1000, 'in_sync', 2000],
    [8000, 'in_sync', 15000],
    [15000, 'in_sync', 15000],
    [4000, 'failed', 8000],
    [15000, 'received', 1000],
  ] as const)('interval after %i ms and a round that %s is %i ms', (prev, outcome, want) => {
    expect(
      nextBaseIntervalMs(prev, outcome, { minIntervalMs: 1000, maxIntervalMs: 15000, jitter: 0.3 }),
    ).toBe(want)
  })

  it('jitters within ±jitter', () => {
    const r = seededRandom(9)
    for (let i = 0; i < 200; i++) {
      const v = jittered(1000, 0.3, r)
      expect(v).toBeGreaterThanOrEqual(700)
      expect(v).toBeLessThanOrEqual(1300)
    }
  })
})

describe('broadcast batching', () => {
  const policy = { maxBatchBytes: 1000, maxBatchDelayMs: 10 }
  it.each([
    [{ pendingBytes: 0, pendingCount: 0, lastFlushAtMs: 0 }, 100, null],
    [{ pendingBytes: 10, pendingCount: 1, lastFlushAtMs: -Infinity }, 100, 0], // quiet node: at once
    [{ pendingBytes: 10, pendingCount: 1, lastFlushAtMs: 95 }, 100, 5], // busy: wait for the window
    [{ pendingBytes: 10, pendingCount: 1, lastFlushAtMs: 90 }, 100, 0],
    [{ pendingBytes: 1000, pendingCount: 3, lastFlushAtMs: 99 }, 100, 0], // full batch: at once
  ])('flushDelayMs(%o, now=%i) = %s', (s, now, want) => {
    expect(flushDelayMs(s, now, policy)).toBe(want)
  })

  it('packs items into groups bounded by bytes and count; a huge item travels alone', () => {
    expect(packGroups([400, 400, 400, 100], 1000, 10)).toEqual([
      [0, 1],
      [2, 3],
    ])
    expect(packGroups([1, 1, 1, 1, 1], 1000, 2)).toEqual([[0, 1], [2, 3], [4]])
    expect(packGroups([10, 5000, 10], 1000, 10)).toEqual([[0], [1], [2]])
    expect(packGroups([], 1000, 10)).toEqual([])
  })
})

describe('seen cache', () => {
  it('keys changesets by actor, version and seq range', () => {
    const base = {
      kind: 'full' as const,
      actorId: 'a',
      version: 3,
      ts: 1,
      seqStart: 0,
      seqEnd: 9,
      lastSeq: 20,
      changes: [],
    }
    expect(changesetKey(base)).toBe('a|3|0-9')
    expect(changesetKey({ ...base, seqStart: 10, seqEnd: 20 })).not.toBe(changesetKey(base))
    expect(changesetKey({ kind: 'empty', actorId: 'a', versions: [3, 3] })).toBe('a|e|3-3')
  })

  it('detects duplicates and evicts the oldest entries beyond its bound', () => {
    const seen = createSeenCache(3)
    expect(seen.add('x')).toBe(true)
    expect(seen.add('x')).toBe(false)
    seen.add('y')
    seen.add('z')
    seen.add('w')
    expect(seen.size).toBe(3)
    expect(seen.has('x')).toBe(false)
    seen.delete('w')
    expect(seen.add('w')).toBe(true)
  })
})

describe('envelope', () => {
  const opts = { clusterId: 'c', maxBytes: 1000 }
  it('round-trips', () => {
    const env = decodeEnvelope(encodeEnvelope('c', MessageKind.Changes, [new Uint8Array([1])]), opts)
    expect(env.kind).toBe(MessageKind.Changes)
    expect((env.body as Uint8Array[]).map((b) => [...b])).toEqual([[1]])
  })
  it.each([
    ['oversized', new Uint8Array(1001)],
    ['malformed', new Uint8Array([0xc1])],
    ['malformed', encodeEnvelope('c', MessageKind.Changes, []).subarray(0, 3)],
    ['wrong_cluster', encodeEnvelope('d', MessageKind.Changes, [])],
    ['wrong_kind', encodeEnvelope('c', 99 as MessageKind, [])],
  ])('refuses with reason %s', (reason, bytes) => {
    try {
      decodeEnvelope(bytes, opts)
      expect.fail('accepted')
    } catch (err) {
      expect(err).toBeInstanceOf(MessageRejectedError)
      expect((err as MessageRejectedError).reason).toBe(reason)
    }
  })
  it('refuses kinds not expected on the channel', () => {
    expect(() =>
      decodeEnvelope(encodeEnvelope('c', MessageKind.SyncEnd, {}), {
        ...opts,
        expectKinds: [MessageKind.Changes],
      }),
    ).toThrow(/not accepted/)
  })
})

describe('addresses', () => {
  it.each([
    ['127.0.0.1:8787', '/ip4/127.0.0.1/tcp/8787'],
    ['[::]:8787', '/ip6/::/tcp/8787'],
    ['[::1]:1', '/ip6/::1/tcp/1'],
    ['0.0.0.0:0', '/ip4/0.0.0.0/tcp/0'],
    ['node-1.internal:4001', '/dns/node-1.internal/tcp/4001'],
    ['/ip4/10.0.0.1/tcp/1/p2p/12D3KooWabc', '/ip4/10.0.0.1/tcp/1/p2p/12D3KooWabc'],
  ])('%s → %s', (input, want) => {
    expect(toMultiaddrString(input)).toBe(want)
  })
  it.each(['127.0.0.1', '::1:80', '[::1]80', '1.2.3.4:99999', '300.1.1.1:1', 'bad host:1', ':80'])(
    'refuses %s',
    (input) => {
      expect(() => toMultiaddrString(input, 'gossip.addr')).toThrow(/gossip.addr/)
    },
  )
})

describe('framing', () => {
  async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < bytes.byteLength; i += size) yield bytes.subarray(i, i + size)
  }
  const concat = (parts: Uint8Array[]): Uint8Array => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
    let o = 0
    for (const p of parts) {
      out.set(p, o)
      o += p.byteLength
    }
    return out
  }
  it('reassembles frames split across arbitrary chunks', async () => {
    const frames = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(1000).fill(5)]
    const wire = concat(frames.map(encodeFrame))
    for (const size of [1, 3, 7, 4096]) {
      const got: Uint8Array[] = []
      for await (const f of decodeFrames(chunks(wire, size), 2000)) got.push(f)
      expect(got).toEqual(frames)
    }
  })
  it('refuses a frame above the limit before buffering it, and a stream cut inside a frame', async () => {
    const big = encodeFrame(new Uint8Array(5000))
    await expect(async () => {
      for await (const _ of decodeFrames(chunks(big.subarray(0, 8), 8), 1000)) void _
    }).rejects.toThrow(/maxFrameBytes/)
    await expect(async () => {
      for await (const _ of decodeFrames(chunks(big.subarray(0, 100), 8), 10_000)) void _
    }).rejects.toThrow(/inside a frame/)
  })
})

describe('seeded random', () => {
  it('is reproducible from its seed', () => {
    const a = seededRandom(42)
    const b = seededRandom(42)
    const xs = Array.from({ length: 5 }, () => a())
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs)
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true)
    expect(shuffled([1, 2, 3, 4, 5], seededRandom(7))).toEqual(shuffled([1, 2, 3, 4, 5], seededRandom(7)))
  })
})

describe('cluster tuning', () => {
  it('merges a preset with overrides and names a bad value in its error', () => {
    const t = resolveClusterTuning({ preset: PRESETS.test, sync: { maxIntervalMs: 9000 } })
    expect(t.sync.maxIntervalMs).toBe(9000)
    expect(t.membership.probeIntervalMs).toBe(200)
    expect(() => resolveClusterTuning({ preset: PRESETS.lan, sync: { peersPerRound: 0 } })).toThrow(
      /sync.peersPerRound value 0/,
    )
    expect(() =>
      resolveClusterTuning({ preset: PRESETS.lan, sync: { minIntervalMs: 5000, maxIntervalMs: 100 } }),
    ).toThrow(/minIntervalMs/)
  })
})
