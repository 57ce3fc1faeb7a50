/**
 * Push-pull (`/patina/members/1`): two members exchange their whole member tables over a
 * stream — with every new connection, with a random member every `pushPullIntervalMs`, and
 * with each bootstrap entry at its own pace (`connections.ts`). This is how a joining node
 * learns every member within one round trip, and how two groups that formed apart merge.
 * A peer of another cluster is hung up on.
 */
import type { FramedStream } from '../transport/transport.js'
import { withTimeout } from '../runtime/clock.js'
import { MessageKind, MessageRejectedError, decodeEnvelope, encodeEnvelope } from '../wire/envelope.js'
import { membershipBody, validateMembershipBody } from './codec.js'
import type { MembershipUpdate } from './members.js'
import { PUSH_PULL_PROTOCOL, readOne, rejected, type MembershipEnv } from './context.js'
import type { MemberView } from './view.js'

export interface PushPull {
  /** Exchange tables with `peer` (dialing it if needed). Rejects when the exchange fails. */
  exchange(peer: string): Promise<void>
  serve(stream: FramedStream): Promise<void>
}

export function createPushPull(
  env: MembershipEnv,
  view: MemberView,
  hooks: { contact: (peer: string) => void },
): PushPull {
  const { opts, transport, clock } = env
  const timeoutMs = (): number => opts.probeTimeoutMs * 4
  const encodeTable = (): Uint8Array =>
    encodeEnvelope(opts.clusterId, MessageKind.Membership, membershipBody(view.fullState()))
  const decodeTable = (frame: Uint8Array): MembershipUpdate[] =>
    validateMembershipBody(
      decodeEnvelope(frame, {
        clusterId: opts.clusterId,
        maxBytes: opts.maxMessageBytes,
        expectKinds: [MessageKind.Membership],
      }).body,
    )
  const refuse = async (err: unknown, peer: string): Promise<void> => {
    rejected(env, 'membership', err, peer)
    if (err instanceof MessageRejectedError && err.reason === 'wrong_cluster') await transport.hangUp(peer)
  }

  return {
    async exchange(peer) {
      const stream = await transport.openStream(peer, PUSH_PULL_PROTOCOL)
      try {
        await stream.send(encodeTable())
        await stream.close()
        const frame = await withTimeout(
          clock,
          readOne(stream),
          timeoutMs(),
          () => new Error('push-pull timed out'),
        )
        if (frame === null) throw new Error(`push-pull with ${peer}: no answer`)
        let updates: MembershipUpdate[]
        try {
          updates = decodeTable(frame)
        } catch (err) {
          await refuse(err, peer)
          throw err
        }
        view.ingest(updates)
        hooks.contact(peer)
      } finally {
        stream.abort()
      }
    },

    async serve(stream) {
      const frame = await withTimeout(
        clock,
        readOne(stream),
        timeoutMs(),
        () => new Error('push-pull timed out'),
      )
      if (frame === null) return stream.abort()
      let updates: MembershipUpdate[]
      try {
        updates = decodeTable(frame)
      } catch (err) {
        stream.abort()
        return refuse(err, stream.remotePeer)
      }
      view.ingest(updates)
      hooks.contact(stream.remotePeer)
      await stream.send(encodeTable())
      await stream.close()
    },
  }
}
