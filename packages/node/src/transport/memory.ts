/**
 * An in-memory network of {@link Transport}s for tests and simulations
 * (memberlist's `MockNetwork`). Production-quality: it follows the same contract as
 * the libp2p transport, and adds seeded, reproducible faults.
 *
 * Model:
 * - Transports are named; the name is both the peer id and the address.
 * - Connections are explicit (`dial`); topic messages flood over connections and every
 *   node forwards a message it sees for the first time to its other connections (like
 *   gossipsub's mesh), deduplicated by message id.
 * - A link model (`link-model.ts`) decides each hop: lost, delayed, or delivered twice (the
 *   copy bypasses the seen cache, as a re-publication would), and which connections carry
 *   topic messages. The default, `uniformLinks`, drops (`dropRate`) and duplicates
 *   (`duplicateRate`) topic hops and delays every hop by a random time in
 *   `[minDelayMs, maxDelayMs]`, which reorders messages; the fleet simulation in `bench/`
 *   plugs in per-pair latency by region over a fixed mesh instead.
 * - Streams are reliable and ordered (each frame delayed, FIFO kept) with a bounded
 *   number of unread frames per direction (backpressure).
 * - Links can be blocked one way (`block(a, b)`: nothing from a reaches b) or both ways
 *   (`partition`; see `memory-blocks.ts`). A link blocked in either direction refuses dials,
 *   pings and streams, and aborts open streams; a link blocked both ways also closes the
 *   connection.
 * - A node can be paused (`pause`: a blocked event loop, see `memory-pause.ts`): what is sent
 *   to it waits, and its own code must run on `clockFor(name)`.
 *
 * All randomness comes from one seeded source and all delays from the injected clock, so
 * a run under a {@link VirtualClock} is reproducible from its seed.
 */
import { PatinaError } from '@patina/api'
import type { FramedStream, PeerEvent, StreamHandler, TopicMessage, Transport } from './transport.js'
import type { ClusterClock, RandomSource } from '../runtime/clock.js'
import { seededRandom, sleep, systemClock } from '../runtime/clock.js'
import { createPauses } from './memory-pause.js'
import { createBlocks } from './memory-blocks.js'
import { memoryStreams, type MemoryStreamEnd } from './memory-stream.js'
import { uniformLinks, type Hop, type LinkModel, type MemoryFaults, type UniformLinks } from './link-model.js'

export { DEFAULT_MEMORY_FAULTS, type MemoryFaults } from './link-model.js'

export interface MemoryNetworkOptions {
  /** Seed of the network's random source (faults, delays). */
  seed: number
  /** The random source instead of one seeded with `seed` (to share one with the simulated nodes). */
  random?: RandomSource
  /** Clock for delays; defaults to the system clock. Use a virtual clock for fast simulations. */
  clock?: ClusterClock
  /** Faults of the default link model ({@link uniformLinks}); not with `links`. */
  faults?: Partial<MemoryFaults>
  /** The link model; {@link uniformLinks} with `faults` when absent. */
  links?: LinkModel
  /** Unread frames per stream direction before `send` waits. */
  streamHighWaterFrames?: number
  /** Message ids remembered per node for flood deduplication. */
  seenCacheSize?: number
}

export interface MemoryNetworkStats {
  published: number
  /** Topic messages handed to a subscriber. */
  delivered: number
  /** Topic hops lost (link model, blocked link, stopped or disconnected receiver). */
  dropped: number
  /** Topic hops the link model delivered twice. */
  duplicated: number
  /** Topic hops received (before deduplication) and their payload bytes. */
  topicHops: number
  topicBytes: number
  /** Topic hops received that the receiver had already seen (flood duplicates). */
  topicSeen: number
  /** Stream frames received and their bytes. */
  streamFrames: number
  streamBytes: number
}

export interface MemoryNetwork {
  readonly random: RandomSource
  readonly clock: ClusterClock
  /** A new transport named `name` (its peer id and address). Names are unique. */
  newTransport(name: string): Transport
  /** Change the faults of the default link model (an error with a custom `links`). */
  setFaults(faults: Partial<MemoryFaults>): void
  /** Block one direction: nothing sent by `from` reaches `to`. */
  block(from: string, to: string): void
  unblock(from: string, to: string): void
  /** Block every link between the two groups (both ways, or only `a → b` with `oneWay`). */
  partition(a: readonly string[], b: readonly string[], opts?: { oneWay?: boolean }): void
  /** Remove every block. */
  heal(): void
  isBlocked(from: string, to: string): boolean
  /** Block `name`'s event loop for `ms`: it answers nothing and runs no timer meanwhile. */
  pause(name: string, ms: number): void
  /** The clock `name`'s components must use for {@link MemoryNetwork.pause} to hold their timers. */
  clockFor(name: string): ClusterClock
  stats(): MemoryNetworkStats
}

interface TopicEnvelope {
  id: string
  topic: string
  origin: string
  data: Uint8Array
}

const closedError = (what: string): PatinaError => new PatinaError('PATINA_ERR_CLOSED', what)
const lostError = (peer: string): PatinaError => closedError(`connection to ${peer} lost`)

export function createMemoryNetwork(opts: MemoryNetworkOptions): MemoryNetwork {
  if (opts.links !== undefined && opts.faults !== undefined)
    throw new PatinaError('PATINA_ERR_PARAM_INVALID', 'memory network: give `faults` or `links`, not both')
  const random = opts.random ?? seededRandom(opts.seed)
  const clock = opts.clock ?? systemClock
  const uniform: UniformLinks | null = opts.links === undefined ? uniformLinks(opts.faults) : null
  const links: LinkModel = opts.links ?? (uniform as UniformLinks)
  const highWater = opts.streamHighWaterFrames ?? 16
  const seenCacheSize = opts.seenCacheSize ?? 50_000
  const nodes = new Map<string, MemoryTransport>()
  const blocks = createBlocks()
  const stats: MemoryNetworkStats = {
    published: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    topicHops: 0,
    topicBytes: 0,
    topicSeen: 0,
    streamFrames: 0,
    streamBytes: 0,
  }
  const pauses = createPauses(clock)
  let msgCounter = 0

  const { isBlocked, reachable } = blocks
  /** The delay of a hop that is never lost (frames, opens, dials, pings). */
  const delay = (hop: Hop): number => links.hop(hop, random)[0] ?? 0
  const carriesTopics = (a: string, b: string): boolean => links.carriesTopics?.(a, b) ?? true
  const streamEnds = memoryStreams({ clock, pauses, stats, highWater, reachable, delay })

  /** After links were blocked: abort streams over links blocked either way, close those blocked both ways. */
  const onLinksChanged = (names: Iterable<string>): void => {
    for (const a of names) {
      const na = nodes.get(a)
      if (na === undefined) continue
      for (const s of [...na.streams]) if (!reachable(a, s.remotePeer)) s.abort(lostError(s.remotePeer))
      for (const b of [...na.connections]) {
        if (!isBlocked(a, b) || !isBlocked(b, a)) continue
        na.dropConnection(b)
        nodes.get(b)?.dropConnection(a)
      }
    }
  }

  class MemoryTransport implements Transport {
    started = false
    readonly connections = new Set<string>()
    readonly streams = new Set<MemoryStreamEnd>()
    private readonly topics = new Set<string>()
    private readonly handlers = new Map<string, StreamHandler>()
    private readonly messageListeners = new Set<(m: TopicMessage) => void>()
    private readonly peerListeners = new Set<(e: PeerEvent) => void>()
    private readonly seen = new Set<string>()
    constructor(readonly peerId: string) {}

    async start(): Promise<void> {
      this.started = true
    }
    async stop(): Promise<void> {
      if (!this.started) return
      this.started = false
      for (const s of [...this.streams]) s.abort(closedError(`transport ${this.peerId} stopped`))
      for (const peer of [...this.connections]) {
        this.dropConnection(peer)
        nodes.get(peer)?.dropConnection(this.peerId)
      }
      this.seen.clear()
    }
    addresses(): string[] {
      return [this.peerId]
    }
    subscribe(topic: string): void {
      this.topics.add(topic)
    }
    async publish(topic: string, data: Uint8Array): Promise<void> {
      if (!this.started) throw closedError(`transport ${this.peerId} is not started`)
      stats.published++
      const env: TopicEnvelope = {
        id: `${this.peerId}#${++msgCounter}`,
        topic,
        origin: this.peerId,
        data: data.slice(),
      }
      this.markSeen(env.id)
      for (const peer of this.connections) this.sendHop(peer, env)
    }
    onMessage(listener: (m: TopicMessage) => void): () => void {
      this.messageListeners.add(listener)
      return () => this.messageListeners.delete(listener)
    }
    handle(protocol: string, handler: StreamHandler): void {
      this.handlers.set(protocol, handler)
    }
    async openStream(peer: string, protocol: string, opts?: { signal?: AbortSignal }): Promise<FramedStream> {
      if (!this.connections.has(peer)) await this.dial(peer, opts)
      // like a protocol negotiation that fails: the connection stays
      const fate = links.hop({ kind: 'open', from: this.peerId, to: peer, protocol }, random)
      if (fate.length === 0) throw closedError(`cannot open ${protocol} to ${peer}: refused by the link`)
      await sleep(clock, fate[0] ?? 0, opts?.signal)
      const remote = nodes.get(peer)
      if (!this.started) throw closedError(`transport ${this.peerId} is not started`)
      if (remote === undefined || !remote.started || !reachable(this.peerId, peer)) {
        throw closedError(`cannot open ${protocol} to ${peer}: unreachable`)
      }
      const handler = remote.handlers.get(protocol)
      if (handler === undefined) throw closedError(`peer ${peer} does not support ${protocol}`)
      const [local, other] = streamEnds.open(this, remote, protocol)
      pauses.whenAwake(peer, () => {
        void Promise.resolve()
          .then(() => handler(other))
          .catch((err: unknown) => other.abort(err instanceof Error ? err : new Error(String(err))))
      })
      return local
    }
    async dial(addr: string, opts?: { signal?: AbortSignal }): Promise<string> {
      const peer = addr
      if (!this.started) throw closedError(`transport ${this.peerId} is not started`)
      if (peer === this.peerId)
        throw new PatinaError('PATINA_ERR_PARAM_INVALID', `cannot dial self (${peer})`)
      if (this.connections.has(peer)) return peer
      await sleep(clock, delay({ kind: 'dial', from: this.peerId, to: peer }), opts?.signal)
      const remote = nodes.get(peer)
      if (!this.started) throw closedError(`transport ${this.peerId} is not started`)
      if (remote === undefined || !remote.started) throw closedError(`dial ${peer}: no such node listening`)
      if (!reachable(this.peerId, peer)) throw closedError(`dial ${peer}: unreachable`)
      if (!this.connections.has(peer)) {
        this.connections.add(peer)
        remote.connections.add(this.peerId)
        this.emitPeer({ type: 'connect', peer })
        remote.emitPeer({ type: 'connect', peer: this.peerId })
      }
      return peer
    }
    async hangUp(peer: string): Promise<void> {
      if (!this.connections.has(peer)) return
      this.abortStreamsWith(peer)
      this.dropConnection(peer)
      nodes.get(peer)?.dropConnection(this.peerId)
    }
    connectedPeers(): string[] {
      return [...this.connections]
    }
    onPeer(listener: (e: PeerEvent) => void): () => void {
      this.peerListeners.add(listener)
      return () => this.peerListeners.delete(listener)
    }
    async ping(peer: string, opts: { timeoutMs: number }): Promise<number> {
      let start = clock.now()
      // A paused caller sees its timeout only once it runs again.
      const timedOut = async (): Promise<never> => {
        await sleep(clock, Math.max(0, start + opts.timeoutMs - clock.now()))
        await pauses.awake(this.peerId)
        throw closedError(`ping ${peer}: timed out after ${opts.timeoutMs} ms`)
      }
      const remote = nodes.get(peer)
      const ok = this.started && remote !== undefined && remote.started && reachable(this.peerId, peer)
      if (!ok) return timedOut()
      if (!this.connections.has(peer)) await this.dial(peer)
      start = clock.now()
      const rtt = delay({ kind: 'ping', from: this.peerId, to: peer })
      // a paused target answers once it runs again
      const answeredAt = Math.max(start + rtt / 2, pauses.resumeAt(peer) + 1) + rtt / 2
      if (answeredAt - start > opts.timeoutMs) return timedOut()
      await sleep(clock, answeredAt - start)
      // a paused caller: its timeout timer runs before it reads the answer
      await pauses.awake(this.peerId)
      if (clock.now() - start > opts.timeoutMs)
        throw closedError(`ping ${peer}: timed out after ${opts.timeoutMs} ms`)
      if (!reachable(this.peerId, peer)) throw closedError(`ping ${peer}: unreachable`)
      return answeredAt - start
    }
    addPeerAddresses(): void {
      /* names are addresses */
    }
    block(peer: string): void {
      network.partition([this.peerId], [peer])
    }
    unblock(peer: string): void {
      network.unblock(this.peerId, peer)
      network.unblock(peer, this.peerId)
    }

    // --- internals
    emitPeer(e: PeerEvent): void {
      for (const l of [...this.peerListeners]) {
        try {
          l(e)
        } catch {
          /* listeners must not break the network */
        }
      }
    }
    dropConnection(peer: string): void {
      if (!this.connections.delete(peer)) return
      this.abortStreamsWith(peer)
      this.emitPeer({ type: 'disconnect', peer })
    }
    abortStreamsWith(peer: string): void {
      for (const s of [...this.streams]) {
        if (s.remotePeer === peer) s.abort(lostError(peer))
      }
    }
    private markSeen(id: string): boolean {
      if (this.seen.has(id)) return false
      this.seen.add(id)
      if (this.seen.size > seenCacheSize) {
        const first = this.seen.values().next()
        if (first.done !== true) this.seen.delete(first.value)
      }
      return true
    }
    sendHop(to: string, env: TopicEnvelope): void {
      if (!carriesTopics(this.peerId, to)) return
      const fate = isBlocked(this.peerId, to)
        ? []
        : links.hop({ kind: 'topic', from: this.peerId, to, topic: env.topic }, random)
      if (fate.length === 0) {
        stats.dropped++
        return
      }
      fate.forEach((delayMs, i) => {
        const duplicate = i > 0
        if (duplicate) stats.duplicated++
        clock.setTimeout(() => nodes.get(to)?.receiveHop(this.peerId, env, duplicate), delayMs)
      })
    }
    receiveHop(from: string, env: TopicEnvelope, duplicate: boolean): void {
      if (clock.now() < pauses.resumeAt(this.peerId)) {
        pauses.whenAwake(this.peerId, () => this.receiveHop(from, env, duplicate))
        return
      }
      if (!this.started || !this.connections.has(from) || isBlocked(from, this.peerId)) {
        stats.dropped++
        return
      }
      stats.topicHops++
      stats.topicBytes += env.data.byteLength
      if (!duplicate) {
        if (!this.markSeen(env.id)) {
          stats.topicSeen++
          return
        }
        for (const peer of this.connections) if (peer !== from && peer !== env.origin) this.sendHop(peer, env)
      }
      if (!this.topics.has(env.topic)) return
      stats.delivered++
      const msg: TopicMessage = { topic: env.topic, from: env.origin, data: env.data }
      for (const l of [...this.messageListeners]) {
        try {
          l(msg)
        } catch {
          /* listeners must not break the network */
        }
      }
    }
  }

  const network: MemoryNetwork = {
    random,
    clock,
    newTransport(name) {
      if (nodes.has(name))
        throw new PatinaError('PATINA_ERR_PARAM_INVALID', `memory transport name "${name}" is taken`)
      const t = new MemoryTransport(name)
      nodes.set(name, t)
      return t
    },
    setFaults(f) {
      if (uniform === null)
        throw new PatinaError(
          'PATINA_ERR_PARAM_INVALID',
          'memory network: setFaults needs the default link model',
        )
      uniform.setFaults(f)
    },
    block(from, to) {
      blocks.block(from, to)
      onLinksChanged([from])
    },
    unblock: (from, to) => blocks.unblock(from, to),
    partition(a, b, o) {
      blocks.partition(a, b, o?.oneWay === true)
      onLinksChanged(a.length <= b.length ? a : b)
    },
    heal: () => blocks.heal(),
    isBlocked,
    pause: (name, ms) => pauses.pause(name, ms),
    clockFor: (name) => pauses.clockFor(name),
    stats: () => ({ ...stats }),
  }
  return network
}
