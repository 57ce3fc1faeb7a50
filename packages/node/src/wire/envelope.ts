/**
 * The cluster envelope: every gossip message and stream frame is
 *
 *     msgpack [PROTOCOL_VERSION, clusterId, kind, body]
 *
 * checked in this order before anything else is looked at: size (before decoding),
 * msgpack structure, protocol version, cluster id, kind, then the body shape of the kind.
 * A failure throws {@link MessageRejectedError} whose `reason` is the metric label.
 * Changesets and sync states inside bodies are opaque bytes produced by the core codec
 * (`encodeChangeset`, `encodeSyncState`) and validated by it.
 */
import { Packr } from 'msgpackr'
import { PatinaError } from '@patina/api'

export const PROTOCOL_VERSION = 1

export const MessageKind = {
  /** gossip: changesets of local transactions. body: bin[] (encoded changesets) */
  Changes: 1,
  /** gossip: membership records and suspicion notices. body: MembershipBody */
  Membership: 2,
  /** sync stream, client → server. body: bin (encoded SyncState) */
  SyncRequest: 3,
  /** sync stream, server → client. body: bin[] (encoded changesets) */
  SyncChanges: 4,
  /** sync stream, server → client, last frame. body: { changesets: number } */
  SyncEnd: 5,
  /** sync stream, server → client. body: { reason: 'busy' | 'cluster' | 'invalid' | 'stopping' } */
  SyncReject: 6,
  /** probe stream, requester → helper. body: { target: string, timeoutMs: number } */
  ProbeRequest: 7,
  /** probe stream, helper → requester. body: { ok: boolean } */
  ProbeResponse: 8,
} as const
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind]

const KINDS = new Set<number>(Object.values(MessageKind))

export type RejectReason = 'oversized' | 'malformed' | 'wrong_version' | 'wrong_cluster' | 'wrong_kind'

/** A message refused at the envelope level; `reason` is the metric label. */
export class MessageRejectedError extends PatinaError {
  readonly reason: RejectReason
  constructor(reason: RejectReason, message: string) {
    super(reason === 'wrong_cluster' ? 'PATINA_ERR_CLUSTER_MISMATCH' : 'PATINA_ERR_MESSAGE_INVALID', message)
    this.reason = reason
  }
}

export interface Envelope {
  version: number
  clusterId: string
  kind: MessageKind
  body: unknown
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, bundleStrings: false })

export function encodeEnvelope(clusterId: string, kind: MessageKind, body: unknown): Uint8Array {
  return packr.pack([PROTOCOL_VERSION, clusterId, kind, body])
}

/**
 * Decodes and checks an envelope. `expectKinds` restricts the kinds accepted on this
 * channel (e.g. only `Changes` on the changes topic).
 */
export function decodeEnvelope(
  bytes: Uint8Array,
  opts: { clusterId: string; maxBytes: number; expectKinds?: readonly MessageKind[] },
): Envelope {
  if (bytes.byteLength > opts.maxBytes) {
    throw new MessageRejectedError(
      'oversized',
      `message of ${bytes.byteLength} bytes exceeds maxMessageBytes ${opts.maxBytes}`,
    )
  }
  let raw: unknown
  try {
    raw = packr.unpack(bytes)
  } catch (err) {
    throw new MessageRejectedError('malformed', `message is not valid msgpack: ${(err as Error).message}`)
  }
  if (!Array.isArray(raw) || raw.length !== 4) {
    throw new MessageRejectedError('malformed', 'message is not a [version, clusterId, kind, body] array')
  }
  const [version, clusterId, kind, body] = raw as [unknown, unknown, unknown, unknown]
  if (version !== PROTOCOL_VERSION) {
    throw new MessageRejectedError(
      'wrong_version',
      `message protocol version ${String(version)} is not supported (this node speaks ${PROTOCOL_VERSION})`,
    )
  }
  if (typeof clusterId !== 'string')
    throw new MessageRejectedError('malformed', 'message cluster id is not a string')
  if (clusterId !== opts.clusterId) {
    throw new MessageRejectedError(
      'wrong_cluster',
      `message from cluster "${clusterId.slice(0, 64)}" refused (this node is in cluster "${opts.clusterId}")`,
    )
  }
  if (typeof kind !== 'number' || !KINDS.has(kind)) {
    throw new MessageRejectedError('wrong_kind', `message kind ${String(kind)} is unknown`)
  }
  if (opts.expectKinds !== undefined && !opts.expectKinds.includes(kind as MessageKind)) {
    throw new MessageRejectedError('wrong_kind', `message kind ${kind} is not accepted on this channel`)
  }
  return { version, clusterId, kind: kind as MessageKind, body }
}

/** Checks that `body` is an array of byte strings of at most `maxItems` entries. */
export function expectBinArray(body: unknown, maxItems: number, what: string): Uint8Array[] {
  if (!Array.isArray(body)) throw new MessageRejectedError('malformed', `${what} body is not an array`)
  if (body.length > maxItems) {
    throw new MessageRejectedError(
      'oversized',
      `${what} carries ${body.length} items, above the limit of ${maxItems}`,
    )
  }
  for (const item of body) {
    if (!(item instanceof Uint8Array))
      throw new MessageRejectedError('malformed', `${what} item is not binary`)
  }
  return body as Uint8Array[]
}

export function expectRecord(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || body instanceof Uint8Array) {
    throw new MessageRejectedError('malformed', `${what} body is not a map`)
  }
  return body as Record<string, unknown>
}
