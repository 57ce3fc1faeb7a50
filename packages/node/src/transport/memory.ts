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
 * - Each hop of a topic message may be dropped (`dropRate`), delivered twice
 *   (`duplicateRate`; the copy bypasses the seen cache, as a re-publication would) and is
 *   delayed by a random time in `[minDelayMs, maxDelayMs]`, which reorders messages.
 * - Streams are reliable and ordered (each frame delayed, FIFO kept) with a bounded
 *   number of unread frames per direction (backpressure).
 * - Links can be blocked one way (`block(a, b)`: nothing from a reaches b) or both ways
 *   (`partition`). A link blocked in either direction refuses dials, pings and streams,
 *   and aborts open streams; a link blocked both ways also closes the connection.
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

export interface MemoryFaults {
  /** Probability (0..1) that one hop of a topic message is lost. */
  dropRate: number
  /** Probability (0..1) that one hop of a topic message is delivered a second time. */
  duplicateRate: number
  /** Smallest per-hop delay, in milliseconds. */
  minDelayMs: number
  /** Largest per-hop delay, in milliseconds; a spread reorders messages. */
  maxDelayMs: number
}

export interface MemoryNetworkOptions {
  /** Seed of the network's random source (faults, delays). */
  seed: number
  /** Clock for delays; defaults to the system clock. Use a virtual clock for fast simulations. */
  clock?: ClusterClock
  faults?: Partial<MemoryFaults>
  /** Unread frames per stream direction before `send` waits. */
  streamHighWaterFrames?: number
  /** Message ids remembered per node for flood deduplication. */
  seenCacheSize?: number
}

export const DEFAULT_MEMORY_FAULTS: MemoryFaults = {
  dropRate: 0,
  duplicateRate: 0,
  minDelayMs: 0,
  maxDelayMs: 1,
}

export interface MemoryNetworkStats {
  published: number
  delivered: number
  dropped: number
  duplicated: number
}

export interface MemoryNetwork {
  readonly random: RandomSource
  readonly clock: ClusterClock
  /** A new transport named `name` (its peer id and address). Names are unique. */
  newTransport(name: string): Transport
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

export function createMemoryNetwork(opts: MemoryNetworkOptions): MemoryNetwork {
  const random = seededRandom(opts.seed)
  const clock = opts.clock ?? systemClock
  let faults: MemoryFaults = { ...DEFAULT_MEMORY_FAULTS, ...opts.faults }
  const highWater = opts.streamHighWaterFrames ?? 16
  const seenCacheSize = opts.seenCacheSize ?? 50_000
  const nodes = new Map<string, MemoryTransport>()
  const blocked = new Set<string>()
  const stats: MemoryNetworkStats = { published: 0, delivered: 0, dropped: 0, duplicated: 0 }
  const pauses = createPauses(clock)
  let msgCounter = 0

  const key = (a: string, b: string): string => `${a}\u0000${b}`
  const isBlocked = (from: string, to: string): boolean => blocked.has(key(from, to))
  const reachable = (a: string, b: string): boolean => !isBlocked(a, b) && !isBlocked(b, a)
  const delay = (): number =>
    faults.minDelayMs + random() * Math.max(0, faults.maxDelayMs - faults.minDelayMs)

  const onLinkChanged = (a: string, b: string): void => {
    const na = nodes.get(a)
    const nb = nodes.get(b)
    if (na === undefined || nb === undefined) return
    if (!reachable(a, b)) {
      na.abortStreamsWith(b)
      nb.abortStreamsWith(a)
    }
    if (isBlocked(a, b) && isBlocked(b, a)) {
      na.dropConnection(b)
      nb.dropConnection(a)
    }
  }

  class MemoryStreamEnd implements FramedStream {
    peer!: MemoryStreamEnd
    readonly inbox: Uint8Array[] = []
    /** frames sent by us not yet read by the peer */
    unread = 0
    remoteEnded = false
    writeClosed = false
    error: Error | null = null
    private readerWake: (() => void) | null = null
    private senderWake: (() => void) | null = null
    private lastDeliverAt = 0
    constructor(
      readonly owner: MemoryTransport,
      readonly remotePeer: string,
      readonly protocol: string,
    ) {}

    private wakeReader(): void {
      const w = this.readerWake
      this.readerWake = null
      w?.()
    }
    private wakeSender(): void {
      const w = this.senderWake
      this.senderWake = null
      w?.()
    }
    /** Schedule `fn` on the peer after a delay, keeping FIFO order. */
    private deliver(fn: () => void): void {
      const at = Math.max(clock.now() + delay(), this.lastDeliverAt)
      this.lastDeliverAt = at
      clock.setTimeout(fn, at - clock.now())
    }
    async send(frame: Uint8Array): Promise<void> {
      while (this.error === null && !this.writeClosed && this.unread >= highWater) {
        await new Promise<void>((resolve) => {
          this.senderWake = resolve
        })
      }
      if (this.error !== null) throw this.error
      if (this.writeClosed)
        throw closedError(`stream ${this.protocol} to ${this.remotePeer} is closed for writing`)
      if (!reachable(this.owner.peerId, this.remotePeer)) {
        const err = closedError(`stream ${this.protocol} to ${this.remotePeer}: peer unreachable`)
        this.abort(err)
        throw err
      }
      this.unread++
      const copy = frame.slice()
      this.deliver(() =>
        pauses.whenAwake(this.remotePeer, () => {
          if (this.peer.error !== null) return
          this.peer.inbox.push(copy)
          this.peer.wakeReader()
        }),
      )
    }
    async *frames(): AsyncIterable<Uint8Array> {
      for (;;) {
        if (this.error !== null) throw this.error
        const next = this.inbox.shift()
        if (next !== undefined) {
          this.peer.unread--
          this.peer.wakeSender()
          yield next
          continue
        }
        if (this.remoteEnded) return
        await new Promise<void>((resolve) => {
          this.readerWake = resolve
        })
      }
    }
    async close(): Promise<void> {
      if (this.writeClosed || this.error !== null) return
      this.writeClosed = true
      this.wakeSender()
      this.deliver(() =>
        pauses.whenAwake(this.remotePeer, () => {
          this.peer.remoteEnded = true
          this.peer.wakeReader()
        }),
      )
      this.maybeForget()
    }
    abort(reason?: Error): void {
      const err = reason ?? closedError(`stream ${this.protocol} with ${this.remotePeer} aborted`)
      for (const end of [this, this.peer]) {
        if (end.error !== null) continue
        end.error = err
        end.wakeReader()
        end.wakeSender()
        end.owner.streams.delete(end)
      }
    }
    maybeForget(): void {
      if (this.writeClosed && this.peer.writeClosed) {
        this.owner.streams.delete(this)
        this.peer.owner.streams.delete(this.peer)
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
      await sleep(clock, delay(), opts?.signal)
      const remote = nodes.get(peer)
      if (!this.started) throw closedError(`transport ${this.peerId} is not started`)
      if (remote === undefined || !remote.started || !reachable(this.peerId, peer)) {
        throw closedError(`cannot open ${protocol} to ${peer}: unreachable`)
      }
      const handler = remote.handlers.get(protocol)
      if (handler === undefined) throw closedError(`peer ${peer} does not support ${protocol}`)
      const local = new MemoryStreamEnd(this, peer, protocol)
      const other = new MemoryStreamEnd(remote, this.peerId, protocol)
      local.peer = other
      other.peer = local
      this.streams.add(local)
      remote.streams.add(other)
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
      await sleep(clock, 2 * delay(), opts?.signal)
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
      const rtt = 2 * delay()
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
        if (s.remotePeer === peer) s.abort(closedError(`connection to ${peer} lost`))
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
      if (isBlocked(this.peerId, to) || random() < faults.dropRate) {
        stats.dropped++
        return
      }
      const copies = random() < faults.duplicateRate ? 2 : 1
      for (let i = 0; i < copies; i++) {
        const duplicate = i > 0
        if (duplicate) stats.duplicated++
        clock.setTimeout(() => nodes.get(to)?.receiveHop(this.peerId, env, duplicate), delay())
      }
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
      if (!duplicate) {
        if (!this.markSeen(env.id)) return
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
      faults = { ...faults, ...f }
    },
    block(from, to) {
      blocked.add(key(from, to))
      onLinkChanged(from, to)
    },
    unblock(from, to) {
      blocked.delete(key(from, to))
    },
    partition(a, b, o) {
      for (const x of a) {
        for (const y of b) {
          if (x === y) continue
          blocked.add(key(x, y))
          if (o?.oneWay !== true) blocked.add(key(y, x))
          onLinkChanged(x, y)
        }
      }
    },
    heal() {
      blocked.clear()
    },
    isBlocked,
    pause: (name, ms) => pauses.pause(name, ms),
    clockFor: (name) => pauses.clockFor(name),
    stats: () => ({ ...stats }),
  }
  return network
}
