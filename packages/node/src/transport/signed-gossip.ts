/**
 * The origin of a gossip message, signed once by its publisher and checked at most once per
 * receiver (docs/protocol.md §1, "Gossip signing").
 *
 * gossipsub runs with `StrictNoSign`; each message's data is this frame around the payload:
 *
 *     0x01 | originLen u8 | origin (peer id, base58 text) | seqno (8 bytes) | sigLen u16 BE | sig | payload
 *
 * The signature covers `"patina-gossip/1\0" | topic | 0x00 | version..seqno | payload` (all but the
 * signature and its length) with the origin's libp2p key. A copy received straight from its origin is authenticated by the Noise
 * connection it came on (its remote peer is the origin), so it is accepted without a check; a
 * forwarded copy is checked against the origin's public key, which is imported once per peer and
 * kept ({@link createGossipSigner}). The seqno makes every publication distinct, so gossipsub's
 * content-addressed message ids never merge two announcements with the same body.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'

const VERSION = 1
const PREFIX = new TextEncoder().encode('patina-gossip/1\0')
const SEQNO_BYTES = 8
const DECODER = new TextDecoder()

/** A message as read from the wire, before its signature is checked. */
export interface GossipFrame {
  /** Peer id (string) of the publisher the frame claims. */
  origin: string
  signature: Uint8Array
  payload: Uint8Array
  /** The bytes the signature covers, without the topic prefix: header up to the seqno, then payload. */
  signed: () => Uint8Array
}

export type FrameError = 'truncated' | 'version'

/** Reads a frame; a string says why the bytes are not one. Does not check the signature. */
export function decodeGossipFrame(data: Uint8Array): GossipFrame | FrameError {
  if (data.byteLength < 2) return 'truncated'
  if (data[0] !== VERSION) return 'version'
  const originLen = data[1] as number
  const seqEnd = 2 + originLen + SEQNO_BYTES
  if (originLen === 0 || data.byteLength < seqEnd + 2) return 'truncated'
  const sigLen = ((data[seqEnd] as number) << 8) | (data[seqEnd + 1] as number)
  const sigEnd = seqEnd + 2 + sigLen
  if (sigLen === 0 || data.byteLength < sigEnd) return 'truncated'
  return {
    origin: DECODER.decode(data.subarray(2, 2 + originLen)),
    signature: data.subarray(seqEnd + 2, sigEnd),
    payload: data.subarray(sigEnd),
    signed: () => concat([data.subarray(0, seqEnd), data.subarray(sigEnd)]),
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

const b64url = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url')

/** This node's key: Ed25519 bytes (seed then public key, as libp2p holds them) or a signer. */
export interface OwnKey {
  peerId: string
  /** 64 bytes: the 32-byte seed followed by the 32-byte public key. */
  ed25519?: Uint8Array
  /** Any other key type (synchronous). */
  sign?: (bytes: Uint8Array) => Uint8Array
}

/** A peer's public key, from its peer id: Ed25519 bytes or a verifier; null when not embedded. */
export interface PeerKey {
  ed25519?: Uint8Array
  verify?: (bytes: Uint8Array, sig: Uint8Array) => boolean
}

function ed25519Private(raw: Uint8Array): KeyObject {
  return createPrivateKey({
    format: 'jwk',
    key: { kty: 'OKP', crv: 'Ed25519', d: b64url(raw.subarray(0, 32)), x: b64url(raw.subarray(32, 64)) },
  })
}

const ed25519Public = (raw: Uint8Array): KeyObject =>
  createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) } })

export interface GossipSigner {
  /** The frame around `payload` for `topic`, signed with this node's key. */
  seal(topic: string, payload: Uint8Array): Uint8Array
  /**
   * The payload and its authenticated origin, or null when the frame is malformed or its
   * signature is wrong. `via` is the peer the copy came from (Noise-authenticated): a copy from
   * its origin needs no signature check.
   */
  open(topic: string, data: Uint8Array, via: string): { origin: string; payload: Uint8Array } | null
  /** Signature checks made so far (tests, metrics). */
  readonly verifications: number
  /** Public keys held (one per origin checked at least once). */
  readonly cachedKeys: number
}

/**
 * Signs for `key` and checks others' frames. `maxCachedKeys` bounds the per-origin key cache
 * (cleared when full: a cluster has far fewer members than that).
 */
export function createGossipSigner(
  own: OwnKey,
  keyOf: (peerId: string) => PeerKey | null,
  maxCachedKeys = 16_384,
): GossipSigner {
  const self = new TextEncoder().encode(own.peerId)
  if (self.byteLength > 255) throw new Error('peer id too long for a gossip frame')
  const fast = own.ed25519 !== undefined ? ed25519Private(own.ed25519) : null
  if (fast === null && own.sign === undefined) throw new Error('a gossip signer needs a key')
  const keys = new Map<string, { node: KeyObject | null; verify: PeerKey['verify'] }>()
  let seq = BigInt(Date.now()) << 16n
  let verifications = 0
  const topicPrefix = (topic: string): Uint8Array =>
    concat([PREFIX, new TextEncoder().encode(topic), new Uint8Array([0])])
  // The prefixes of the two or three topics a node uses, computed once.
  const prefixes = new Map<string, Uint8Array>()
  const prefixOf = (topic: string): Uint8Array => {
    let p = prefixes.get(topic)
    if (p === undefined) {
      p = topicPrefix(topic)
      if (prefixes.size < 64) prefixes.set(topic, p)
    }
    return p
  }

  const signBytes = (bytes: Uint8Array): Uint8Array => {
    if (fast !== null) return sign(null, bytes, fast)
    return (own.sign as (b: Uint8Array) => Uint8Array)(bytes)
  }

  const publicOf = (frame: GossipFrame): { node: KeyObject | null; verify: PeerKey['verify'] } | null => {
    let k = keys.get(frame.origin)
    if (k === undefined) {
      const pk = keyOf(frame.origin) // null: not a peer id, or one that does not embed its key
      if (pk === null || (pk.ed25519 === undefined && pk.verify === undefined)) return null
      if (keys.size >= maxCachedKeys) keys.clear()
      k = { node: pk.ed25519 !== undefined ? ed25519Public(pk.ed25519) : null, verify: pk.verify }
      keys.set(frame.origin, k)
    }
    return k
  }

  return {
    seal(topic, payload) {
      seq = (seq + 1n) & 0xffff_ffff_ffff_ffffn
      const head = new Uint8Array(2 + self.byteLength + SEQNO_BYTES)
      head[0] = VERSION
      head[1] = self.byteLength
      head.set(self, 2)
      new DataView(head.buffer).setBigUint64(2 + self.byteLength, seq)
      const sig = signBytes(concat([prefixOf(topic), head, payload]))
      return concat([head, new Uint8Array([sig.byteLength >> 8, sig.byteLength & 0xff]), sig, payload])
    },

    open(topic, data, via) {
      const frame = decodeGossipFrame(data)
      if (typeof frame === 'string') return null
      if (frame.origin === via) return { origin: frame.origin, payload: frame.payload }
      const k = publicOf(frame)
      if (k === null) return null
      verifications++
      const bytes = concat([prefixOf(topic), frame.signed()])
      let ok: boolean
      try {
        ok =
          k.node !== null
            ? verify(null, bytes, k.node, frame.signature)
            : (k.verify as NonNullable<PeerKey['verify']>)(bytes, frame.signature)
      } catch {
        ok = false
      }
      return ok ? { origin: frame.origin, payload: frame.payload } : null
    },

    get verifications() {
      return verifications
    },
    get cachedKeys() {
      return keys.size
    },
  }
}
