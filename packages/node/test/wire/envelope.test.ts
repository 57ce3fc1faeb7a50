import { describe, expect, it } from 'vitest'
import { decodeEnvelope, encodeEnvelope, MessageKind, MessageRejectedError } from '../../src/wire/envelope.js'

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
