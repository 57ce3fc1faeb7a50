/**
 * The libp2p implementation of {@link Transport}: TCP, Noise, Yamux, identify, ping and
 * `@libp2p/gossipsub` (libp2p 3; NOT `@chainsafe/libp2p-gossipsub`, which needs libp2p 2).
 * This is the only module that imports libp2p.
 *
 * - Node identity: an Ed25519 key persisted at `identityPath` (protobuf bytes, mode 0600),
 *   created on first start; without a path the identity is ephemeral.
 * - Private network: with `clusterKey`, connections are protected by a pre-shared key
 *   (`@libp2p/pnet`); a node without the same key cannot complete a handshake.
 * - Addresses: `host:port` (Corrosion style) or multiaddrs, for listening, announcing and
 *   dialing; dialing `host:port` learns the peer id from the Noise handshake.
 * - `block(peer)`: the connection gater refuses the peer both ways (partition tests, bans).
 */
import '../runtime/polyfill.js'
import { mkdirSync, readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs'
import { dirname } from 'node:path'
import { createHash } from 'node:crypto'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { gossipsub, TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import { preSharedKey } from '@libp2p/pnet'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { PatinaError } from '@patina/api'
import type { FramedStream, PeerEvent, StreamHandler, TopicMessage, Transport } from './transport.js'
import { decodeFrames, encodeFrame } from '../wire/framing.js'
import { isBarePeerId, toMultiaddrString } from './address.js'
import { createGossipSigner, type GossipSigner, type PeerKey } from './signed-gossip.js'

export interface Libp2pTransportOptions {
  /** Listen addresses (`host:port` or multiaddr). Default `['127.0.0.1:0']`. */
  listen?: string[]
  /** Addresses announced to peers instead of the listen addresses (Corrosion `external_addr`). */
  announce?: string[]
  /** Where the node's private key is kept; created on first start. Omit for an ephemeral identity. */
  identityPath?: string
  /**
   * Pre-shared cluster key: a 64-character hex string used as is, or any other secret
   * string (hashed with SHA-256 into the 32-byte key). Nodes without it cannot connect.
   */
  clusterKey?: string
  /** Largest topic message accepted from the network, in bytes (larger are dropped by gossipsub). Default 4 MiB. */
  maxMessageBytes?: number
  /** Largest stream frame accepted, in bytes. Default 16 MiB. */
  maxFrameBytes?: number
  /**
   * Whether gossip messages carry their publisher, signed (`transport/signed-gossip.ts`), so that
   * `from` is the authenticated publisher even for forwarded copies. Default true. Without it
   * `from` is the peer a copy came from (A/B experiments only).
   */
  signMessages?: boolean
  /** Timeout of one dial, in milliseconds. Default 5000. */
  dialTimeoutMs?: number
  /** Concurrent inbound streams per connection per protocol. Default 32. */
  maxInboundStreams?: number
  /** gossipsub mesh degree, its bounds and heartbeat (config `gossip.mesh_*`). Default gossipsub's 6/4/12, 1 s. */
  mesh?: { degree: number; degreeLow: number; degreeHigh: number; heartbeatMs: number }
}

export const LIBP2P_TRANSPORT_DEFAULTS = {
  listen: ['127.0.0.1:0'],
  maxMessageBytes: 4 * 1024 * 1024,
  maxFrameBytes: 16 * 1024 * 1024,
  signMessages: true,
  dialTimeoutMs: 5000,
  maxInboundStreams: 32,
  mesh: { degree: 6, degreeLow: 4, degreeHigh: 12, heartbeatMs: 1000 },
} as const

type Services = { pubsub: GossipSub; ping: Ping; identify: Identify }

/** Loads the node key at `path`, creating it (mode 0600) when missing. */
export async function loadOrCreateIdentity(path: string): Promise<PrivateKey> {
  if (existsSync(path)) {
    try {
      return privateKeyFromProtobuf(readFileSync(path))
    } catch (err) {
      throw new PatinaError(
        'PATINA_ERR_CONFIG_INVALID',
        `node identity file ${path} is not a libp2p private key`,
        {
          cause: err,
        },
      )
    }
  }
  const key = await generateKeyPair('Ed25519')
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.tmp`
  writeFileSync(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
  renameSync(tmp, path)
  return key
}

/** The gossip signer of a node key (`signed-gossip.ts`), with peer keys taken from peer ids. */
export function gossipSignerFor(key: PrivateKey, maxCachedKeys?: number): GossipSigner {
  const keyOf = (peerId: string): PeerKey | null => {
    let pk
    try {
      pk = peerIdFromString(peerId).publicKey
    } catch {
      return null
    }
    if (pk === undefined) return null
    if (pk.type === 'Ed25519') return { ed25519: pk.raw }
    const k = pk
    return {
      verify: (bytes, sig) => {
        const ok = k.verify(bytes, sig)
        if (typeof ok !== 'boolean') throw new Error('asynchronous key verification')
        return ok
      },
    }
  }
  const own =
    key.type === 'Ed25519'
      ? { peerId: peerIdFromPrivateKey(key).toString(), ed25519: key.raw }
      : {
          peerId: peerIdFromPrivateKey(key).toString(),
          sign: (bytes: Uint8Array) => {
            const s = key.sign(bytes)
            if (!(s instanceof Uint8Array)) throw new Error('asynchronous key signing')
            return s
          },
        }
  return createGossipSigner(own, keyOf, maxCachedKeys)
}

/** The pnet swarm key file bytes for a cluster key (see {@link Libp2pTransportOptions.clusterKey}). */
export function swarmKeyFor(clusterKey: string): Uint8Array {
  const hex = /^[0-9a-fA-F]{64}$/.test(clusterKey)
    ? clusterKey.toLowerCase()
    : createHash('sha256').update(clusterKey, 'utf8').digest('hex')
  return new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${hex}`)
}

export function createLibp2pTransport(options: Libp2pTransportOptions = {}): Transport {
  const o = { ...LIBP2P_TRANSPORT_DEFAULTS, ...options }
  const blocked = new Set<string>()
  const messageListeners = new Set<(m: TopicMessage) => void>()
  const peerListeners = new Set<(e: PeerEvent) => void>()
  const handlers = new Map<string, StreamHandler>()
  const topics = new Set<string>()
  let node: Libp2p<Services> | null = null
  let signer: GossipSigner | null = null
  /** Messages accepted by the topic validator → their authenticated origin and payload. */
  const opened = new WeakMap<object, { origin: string; payload: Uint8Array }>()
  let stopping = false

  const listenAddrs = o.listen.map((a) => toMultiaddrString(a, 'gossip.addr'))
  const announceAddrs = options.announce?.map((a) => toMultiaddrString(a, 'gossip.external_addr'))

  const requireNode = (): Libp2p<Services> => {
    if (node === null || stopping)
      throw new PatinaError('PATINA_ERR_CLOSED', 'libp2p transport is not started')
    return node
  }
  const emitPeer = (e: PeerEvent): void => {
    for (const l of [...peerListeners]) {
      try {
        l(e)
      } catch {
        /* listener errors are the listener's problem */
      }
    }
  }

  const wrapStream = (stream: Stream, remotePeer: string): FramedStream => {
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, o.maxFrameBytes * 2)
    let iterated = false
    return {
      remotePeer,
      protocol: stream.protocol,
      async send(frame) {
        if (stream.status !== 'open' || stream.writeStatus !== 'writable') {
          throw new PatinaError(
            'PATINA_ERR_CLOSED',
            `stream ${stream.protocol} to ${remotePeer} is ${stream.status}`,
          )
        }
        if (!stream.send(encodeFrame(frame))) await stream.onDrain()
      },
      frames() {
        if (iterated)
          throw new PatinaError('PATINA_ERR_INTERNAL', 'FramedStream.frames() may be iterated once')
        iterated = true
        return decodeFrames(stream, o.maxFrameBytes)
      },
      async close() {
        try {
          await stream.close()
        } catch {
          /* already closed */
        }
      },
      abort(reason) {
        stream.abort(reason ?? new Error('aborted'))
      },
    }
  }

  const registerHandler = async (
    n: Libp2p<Services>,
    protocol: string,
    handler: StreamHandler,
  ): Promise<void> => {
    await n.handle(
      protocol,
      async (stream, connection) => {
        const remote = connection.remotePeer.toString()
        if (blocked.has(remote)) {
          stream.abort(new Error('blocked'))
          return
        }
        try {
          await handler(wrapStream(stream, remote))
        } catch (err) {
          stream.abort(err instanceof Error ? err : new Error(String(err)))
        }
      },
      { maxInboundStreams: o.maxInboundStreams, maxOutboundStreams: o.maxInboundStreams },
    )
  }

  const watchTopic = (n: Libp2p<Services>, topic: string): void => {
    n.services.pubsub.subscribe(topic)
    const sig = signer
    if (sig === null) return
    // Runs once per message (after gossipsub's duplicate check), before it is delivered or
    // forwarded: a forged or malformed frame is neither.
    n.services.pubsub.topicValidators.set(topic, (via, msg) => {
      const r = sig.open(topic, msg.data, via.toString())
      if (r === null) return TopicValidatorResult.Reject
      opened.set(msg, r)
      return TopicValidatorResult.Accept
    })
  }

  const toPeerId = (peer: string): PeerId => {
    try {
      return peerIdFromString(peer)
    } catch (err) {
      throw new PatinaError('PATINA_ERR_PARAM_INVALID', `"${peer}" is not a peer id`, { cause: err })
    }
  }

  const transport: Transport = {
    get peerId() {
      return requireNode().peerId.toString()
    },

    async start() {
      if (node !== null) return
      stopping = false
      const privateKey =
        options.identityPath !== undefined
          ? await loadOrCreateIdentity(options.identityPath)
          : await generateKeyPair('Ed25519')
      signer = o.signMessages ? gossipSignerFor(privateKey) : null
      const n = await createLibp2p<Services>({
        privateKey,
        addresses: {
          listen: listenAddrs,
          ...(announceAddrs !== undefined ? { announce: announceAddrs } : {}),
        },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        ...(options.clusterKey !== undefined
          ? { connectionProtector: preSharedKey({ psk: swarmKeyFor(options.clusterKey) }) }
          : {}),
        connectionGater: {
          denyDialPeer: (peerId) => blocked.has(peerId.toString()),
          denyInboundEncryptedConnection: (peerId) => blocked.has(peerId.toString()),
          denyOutboundEncryptedConnection: (peerId) => blocked.has(peerId.toString()),
          // loopback and private addresses are the normal case for a cluster
          denyDialMultiaddr: () => false,
        },
        connectionManager: { dialTimeout: o.dialTimeoutMs },
        services: {
          identify: identify(),
          ping: ping(),
          pubsub: gossipsub({
            allowPublishToZeroTopicPeers: true,
            ignoreDuplicatePublishError: true,
            emitSelf: false,
            fallbackToFloodsub: false,
            floodPublish: true, // gossipsub's default, relied on: see signed-gossip.ts and `mesh`
            D: o.mesh.degree,
            Dlo: o.mesh.degreeLow,
            Dhi: o.mesh.degreeHigh,
            // gossipsub needs Dout < Dlo and Dout ≤ D/2, Dscore ≤ D
            Dout: Math.max(0, Math.min(2, o.mesh.degreeLow - 1, Math.floor(o.mesh.degree / 2))),
            Dscore: Math.min(4, o.mesh.degree),
            heartbeatInterval: o.mesh.heartbeatMs,
            maxInboundDataLength: o.maxMessageBytes,
            maxOutboundBufferSize: Math.max(16 * 1024 * 1024, o.maxMessageBytes * 8),
            // gossipsub's own signing is off: its per-message key import and the check of every
            // copy cost most of a 10-node cluster's CPU (docs/benchmarks.md). Our frame
            // (signed-gossip.ts) signs once per message; a receiver checks a forwarded copy once
            // (topic validator, after the duplicate check) and a copy from its origin not at all.
            globalSignaturePolicy: 'StrictNoSign',
            // Duplicates are dropped on a cheap hash of the bytes (origin, seqno and signature
            // included) before any check: in a mesh every message arrives up to D times.
            fastMsgIdFn: (m) =>
              createHash('sha1')
                .update(m.data ?? new Uint8Array(0))
                .digest('base64'),
            msgIdFn: (msg) => new Uint8Array(createHash('sha256').update(msg.data).digest()),
          }),
        },
      })
      n.addEventListener('peer:connect', (e) => {
        const peer = e.detail.toString()
        if (blocked.has(peer)) {
          void n.hangUp(e.detail).catch(() => undefined)
          return
        }
        emitPeer({ type: 'connect', peer })
      })
      n.addEventListener('peer:disconnect', (e) =>
        emitPeer({ type: 'disconnect', peer: e.detail.toString() }),
      )
      n.services.pubsub.addEventListener('gossipsub:message', (e) => {
        const { msg, propagationSource } = e.detail
        if (blocked.has(propagationSource.toString())) return
        let m: TopicMessage
        if (signer !== null) {
          const r = opened.get(msg)
          if (r === undefined) return // a topic we do not validate: not ours
          m = { topic: msg.topic, from: r.origin, data: r.payload }
        } else m = { topic: msg.topic, from: propagationSource.toString(), data: msg.data }
        for (const l of [...messageListeners]) {
          try {
            l(m)
          } catch {
            /* listener errors are the listener's problem */
          }
        }
      })
      for (const t of topics) watchTopic(n, t)
      for (const [protocol, handler] of handlers) await registerHandler(n, protocol, handler)
      if (n.status !== 'started') await n.start()
      node = n
    },

    async stop() {
      const n = node
      if (n === null) return
      stopping = true
      try {
        await n.stop()
      } finally {
        node = null
      }
    },

    addresses() {
      return requireNode()
        .getMultiaddrs()
        .map((m) => m.toString())
    },

    subscribe(topic) {
      topics.add(topic)
      if (node !== null) watchTopic(node, topic)
    },

    async publish(topic, data) {
      const n = requireNode()
      await n.services.pubsub.publish(topic, signer !== null ? signer.seal(topic, data) : data)
    },

    onMessage(listener) {
      messageListeners.add(listener)
      return () => messageListeners.delete(listener)
    },

    handle(protocol, handler) {
      handlers.set(protocol, handler)
      if (node !== null) registerHandler(node, protocol, handler).catch(() => undefined)
    },

    async openStream(peer, protocol, opts) {
      const n = requireNode()
      if (blocked.has(peer)) throw new PatinaError('PATINA_ERR_CLOSED', `peer ${peer} is blocked`)
      const stream = await n.dialProtocol(
        toPeerId(peer),
        protocol,
        opts?.signal ? { signal: opts.signal } : {},
      )
      return wrapStream(stream, peer)
    },

    async dial(addr, opts) {
      const n = requireNode()
      const signal = opts?.signal ?? AbortSignal.timeout(o.dialTimeoutMs)
      if (isBarePeerId(addr)) {
        const conn = await n.dial(toPeerId(addr), { signal })
        return conn.remotePeer.toString()
      }
      const conn = await n.dial(multiaddr(toMultiaddrString(addr, 'gossip.bootstrap')), { signal })
      return conn.remotePeer.toString()
    },

    async hangUp(peer) {
      if (node === null) return
      await node.hangUp(toPeerId(peer)).catch(() => undefined)
    },

    connectedPeers() {
      if (node === null) return []
      return node.getPeers().map((p) => p.toString())
    },

    onPeer(listener) {
      peerListeners.add(listener)
      return () => peerListeners.delete(listener)
    },

    async ping(peer, opts) {
      const n = requireNode()
      if (blocked.has(peer)) throw new PatinaError('PATINA_ERR_CLOSED', `peer ${peer} is blocked`)
      return await n.services.ping.ping(toPeerId(peer), { signal: AbortSignal.timeout(opts.timeoutMs) })
    },

    addPeerAddresses(peer, addrs) {
      const n = node
      if (n === null || addrs.length === 0) return
      let id: PeerId
      try {
        id = peerIdFromString(peer)
      } catch {
        return
      }
      const mas = []
      for (const a of addrs) {
        try {
          mas.push(multiaddr(toMultiaddrString(a)).decapsulateCode(421))
        } catch {
          /* skip addresses we cannot parse */
        }
      }
      if (mas.length > 0) void n.peerStore.merge(id, { multiaddrs: mas }).catch(() => undefined)
    },

    block(peer) {
      blocked.add(peer)
      if (node !== null) {
        try {
          void node.hangUp(peerIdFromString(peer)).catch(() => undefined)
        } catch {
          /* not a peer id: nothing connected */
        }
      }
    },

    unblock(peer) {
      blocked.delete(peer)
    },
  }
  return transport
}
