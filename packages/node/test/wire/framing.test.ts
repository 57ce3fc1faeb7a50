import { describe, expect, it } from 'vitest'
import { decodeFrames, encodeFrame } from '../../src/wire/framing.js'

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
