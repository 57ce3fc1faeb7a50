import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { gossipSignerFor } from '../../src/transport/libp2p.js'
import { decodeGossipFrame } from '../../src/transport/signed-gossip.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

async function party() {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString(), signer: gossipSignerFor(key) }
}

describe('signed gossip frames', () => {
  it('a forwarded copy is checked once against the origin key, imported once per origin', async () => {
    const a = await party()
    const b = await party()
    const c = await party()
    for (let i = 0; i < 5; i++) {
      const data = a.signer.seal('t', bytes(`hello ${i}`))
      expect(c.signer.open('t', data, b.id)).toEqual({ origin: a.id, payload: bytes(`hello ${i}`) })
    }
    expect(c.signer.verifications).toBe(5)
    expect(c.signer.cachedKeys).toBe(1)
  })

  it('a copy from its origin needs no check: the connection authenticated it', async () => {
    const a = await party()
    const c = await party()
    const data = a.signer.seal('t', bytes('direct'))
    expect(c.signer.open('t', data, a.id)).toEqual({ origin: a.id, payload: bytes('direct') })
    expect(c.signer.verifications).toBe(0)
  })

  it('every publication is distinct (seqno), even with the same body', async () => {
    const a = await party()
    const x = a.signer.seal('t', bytes('same'))
    const y = a.signer.seal('t', bytes('same'))
    expect(Buffer.from(x).equals(Buffer.from(y))).toBe(false)
  })

  it.each([
    ['a changed payload byte', (d: Uint8Array) => d.with(d.length - 1, (d[d.length - 1] as number) ^ 1)],
    ['a changed seqno byte', (d: Uint8Array) => d.with(2 + 52 + 3, (d[2 + 52 + 3] as number) ^ 1)],
    [
      'a changed signature byte',
      (d: Uint8Array) => d.with(2 + 52 + 8 + 2 + 5, (d[2 + 52 + 8 + 2 + 5] as number) ^ 1),
    ],
    ['a truncated frame', (d: Uint8Array) => d.subarray(0, 40)],
    ['another version', (d: Uint8Array) => d.with(0, 2)],
    ['no signature', (d: Uint8Array) => d.with(2 + 52 + 8, 0).with(2 + 52 + 9, 0)],
  ])('refuses %s', async (_name, mutate) => {
    const a = await party()
    const b = await party()
    const c = await party()
    const data = a.signer.seal('t', bytes('payload'))
    expect(c.signer.open('t', data, b.id)).not.toBeNull()
    expect(c.signer.open('t', mutate(data), b.id)).toBeNull()
  })

  it('refuses a frame replayed on another topic, or claiming another origin', async () => {
    const a = await party()
    const b = await party()
    const c = await party()
    const data = a.signer.seal('changes', bytes('payload'))
    expect(c.signer.open('members', data, b.id)).toBeNull()
    // a's frame carrying b's signature over the same body
    const forged = b.signer.seal('changes', bytes('payload'))
    const f = decodeGossipFrame(forged)
    const g = decodeGossipFrame(data)
    if (typeof f === 'string' || typeof g === 'string') throw new Error('not frames')
    expect(g.origin).toBe(a.id)
    const claimed = new Uint8Array(data)
    claimed.set(f.signature, data.byteLength - g.payload.byteLength - g.signature.byteLength)
    expect(c.signer.open('changes', claimed, b.id)).toBeNull()
    // an origin string that is no peer id
    const junk = new Uint8Array(data)
    junk.set(bytes('x'.repeat(52)), 2)
    expect(c.signer.open('changes', junk, b.id)).toBeNull()
  })

  it('works with a non-Ed25519 identity (secp256k1) through the libp2p key', async () => {
    const key = await generateKeyPair('secp256k1')
    const a = { id: peerIdFromPrivateKey(key).toString(), signer: gossipSignerFor(key) }
    const b = await party()
    const c = await party()
    const data = a.signer.seal('t', bytes('k1'))
    expect(c.signer.open('t', data, b.id)).toEqual({ origin: a.id, payload: bytes('k1') })
    expect(c.signer.open('t', data.with(data.length - 1, 0), b.id)).toBeNull()
  })

  it('bounds the key cache', async () => {
    const c = gossipSignerFor(await generateKeyPair('Ed25519'), 2)
    const relay = (await party()).id
    for (let i = 0; i < 5; i++) {
      const p = await party()
      expect(c.open('t', p.signer.seal('t', bytes('x')), relay)).not.toBeNull()
      expect(c.cachedKeys).toBeLessThanOrEqual(2)
    }
  })
})
