/**
 * The narrow interface the cluster layer needs from the network
 * (memberlist's `Transport`, named for what we use).
 *
 * Two delivery classes:
 * - **topics** (publish/subscribe) are best-effort: a message may be lost, duplicated or
 *   reordered, and it reaches peers through forwarding (gossipsub), not only direct
 *   neighbours. A node does not receive its own publications.
 * - **streams** are reliable, ordered, framed request/response channels to one peer
 *   (anti-entropy sync, indirect probes). Each frame is delivered whole.
 *
 * Peers are named by an opaque string id (the libp2p peer id, or a name in the
 * in-memory network). Addresses are strings the transport understands; `dial`
 * returns the peer id learnt from the connection, so an address without a peer id
 * (a Corrosion-style `host:port` bootstrap entry) is enough to join.
 *
 * Implementations: `transport/libp2p.ts` (TCP + Noise + Yamux + gossipsub) and
 * `transport/memory.ts` (seeded fault-injecting network for tests).
 */

/** A message received on a topic. */
export interface TopicMessage {
  topic: string
  /** The peer that published the message (the originator, not the forwarder, when known). */
  from: string
  data: Uint8Array
}

export interface PeerEvent {
  type: 'connect' | 'disconnect'
  peer: string
}

/** A reliable, ordered, framed, bidirectional stream to one peer. */
export interface FramedStream {
  readonly remotePeer: string
  readonly protocol: string
  /**
   * Send one frame. Resolves once the frame is accepted for sending; waits while the
   * remote end is not reading (backpressure). Rejects when the stream was closed or reset.
   */
  send(frame: Uint8Array): Promise<void>
  /** Received frames, in order. Ends when the remote closes its writing end. Iterate once. */
  frames(): AsyncIterable<Uint8Array>
  /** Close the writing end (the remote's `frames()` ends after the frames already sent). */
  close(): Promise<void>
  /** Abort both directions at once; pending sends reject. */
  abort(reason?: Error): void
}

export type StreamHandler = (stream: FramedStream) => void | Promise<void>

export interface OpenStreamOptions {
  signal?: AbortSignal
}

export interface Transport {
  /** This node's peer id. Valid after `start()`. */
  readonly peerId: string
  start(): Promise<void>
  /** Stop: closes connections and streams; handlers are not called again. */
  stop(): Promise<void>
  /** Addresses other nodes can dial to reach us (including our peer id where the transport has one). */
  addresses(): string[]

  subscribe(topic: string): void
  /** Publish to everyone subscribed to `topic` (best-effort). Never throws for lack of peers. */
  publish(topic: string, data: Uint8Array): Promise<void>
  /** Register a listener for topic messages. Returns an unsubscribe function. */
  onMessage(listener: (message: TopicMessage) => void): () => void

  /** Handle inbound streams of `protocol`. One handler per protocol. */
  handle(protocol: string, handler: StreamHandler): void
  /** Open a stream to `peer` (dialing it when not connected). */
  openStream(peer: string, protocol: string, opts?: OpenStreamOptions): Promise<FramedStream>

  /** Dial an address or a known peer id; resolves with the remote peer id. */
  dial(addr: string, opts?: { signal?: AbortSignal }): Promise<string>
  hangUp(peer: string): Promise<void>
  /** Peers we hold a connection to. */
  connectedPeers(): string[]
  /** Register a listener for connection events. Returns an unsubscribe function. */
  onPeer(listener: (event: PeerEvent) => void): () => void
  /** Round-trip time to `peer` in milliseconds; rejects on failure or timeout. */
  ping(peer: string, opts: { timeoutMs: number }): Promise<number>
  /** Remember addresses for `peer` so that `dial(peer)`/`openStream(peer)` can reach it. */
  addPeerAddresses(peer: string, addrs: string[]): void

  /**
   * Refuse every connection to and from `peer` (and close the existing ones) until
   * {@link Transport.unblock}. For partition tests and operator bans.
   */
  block(peer: string): void
  unblock(peer: string): void
}
