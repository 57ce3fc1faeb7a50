/**
 * A {@link Transport} that reports every sign of life from a peer — a topic message (from its
 * originator), the first frame of a stream either way, an answered ping — so that "last
 * contact" counts everything received from the cluster (gossip, sync, probes, push-pull), not
 * only membership traffic. The cluster hands this wrapper to every component.
 */
import type { FramedStream, Transport } from '../transport/transport.js'

function tracked(stream: FramedStream, note: (peer: string) => void): FramedStream {
  return {
    remotePeer: stream.remotePeer,
    protocol: stream.protocol,
    send: (frame) => stream.send(frame),
    close: () => stream.close(),
    abort: (reason) => stream.abort(reason),
    frames() {
      const inner = stream.frames()
      return {
        async *[Symbol.asyncIterator]() {
          let first = true
          for await (const f of inner) {
            if (first) {
              first = false
              note(stream.remotePeer)
            }
            yield f
          }
        },
      }
    },
  }
}

/** `transport`, with `note(peer)` called whenever something arrives from `peer`. */
export function withContactTracking(transport: Transport, note: (peer: string) => void): Transport {
  let unsubscribe: (() => void) | null = null
  return {
    get peerId() {
      return transport.peerId
    },
    async start() {
      unsubscribe ??= transport.onMessage((m) => note(m.from))
      await transport.start()
    },
    async stop() {
      unsubscribe?.()
      unsubscribe = null
      await transport.stop()
    },
    addresses: () => transport.addresses(),
    subscribe: (topic) => transport.subscribe(topic),
    publish: (topic, data) => transport.publish(topic, data),
    onMessage: (listener) => transport.onMessage(listener),
    handle: (protocol, handler) => transport.handle(protocol, (s) => handler(tracked(s, note))),
    openStream: async (peer, protocol, opts) =>
      tracked(await transport.openStream(peer, protocol, opts), note),
    dial: (addr, opts) => transport.dial(addr, opts),
    hangUp: (peer) => transport.hangUp(peer),
    connectedPeers: () => transport.connectedPeers(),
    onPeer: (listener) => transport.onPeer(listener),
    ping: async (peer, opts) => {
      const rtt = await transport.ping(peer, opts)
      note(peer)
      return rtt
    },
    addPeerAddresses: (peer, addrs) => transport.addPeerAddresses(peer, addrs),
    block: (peer) => transport.block(peer),
    unblock: (peer) => transport.unblock(peer),
  }
}
