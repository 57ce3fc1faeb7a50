/**
 * A simulated wide-area network for `bench/sim.ts`: the `Transport` contract of
 * `@patina/node` (the same one `createMemoryNetwork` implements for tests), with
 *
 * - regions: every node lives in one; the one-way delay of a hop is drawn per message from the
 *   link's distribution (intra-region or region-to-region, see {@link LatencyModel});
 * - an explicit, fixed mesh: topic messages flood over mesh links only, each node forwarding a
 *   message the first time it sees it (gossipsub's eager push over its mesh, without IHAVE/IWANT
 *   gossip, mesh maintenance or scoring); duplicates are counted, then dropped;
 * - streams (anti-entropy sync) to any node, reliable and ordered, each frame delayed by the
 *   link's latency, with a bounded number of unread frames (backpressure);
 * - partitions between groups of nodes (mesh links and streams across them fail);
 * - per-node counters of messages and bytes received, by channel.
 *
 * Topics in `dropTopics` and stream protocols in `refuseProtocols` are not carried (the sim
 * turns membership off this way). Every random draw comes from one seeded source and every delay
 * from the injected clock, so a run is reproducible from its seed (up to the clock's quantum).
 */
import type { Transport } from '@patina/node'
import type { SimClock } from './vclock.js'

type FramedStream = Awaited<ReturnType<Transport['openStream']>>
type StreamHandler = Parameters<Transport['handle']>[1]
type TopicMessage = Parameters<Parameters<Transport['onMessage']>[0]>[0]
type PeerEvent = Parameters<Parameters<Transport['onPeer']>[0]>[0]

/** Regions with approximate coordinates (a Fly.io-like spread of 12 regions). */
export const REGIONS: { name: string; lat: number; lon: number }[] = [
  { name: 'iad', lat: 38.9, lon: -77.4 },
  { name: 'ord', lat: 41.9, lon: -87.6 },
  { name: 'dfw', lat: 32.9, lon: -97.0 },
  { name: 'sjc', lat: 37.4, lon: -121.9 },
  { name: 'gru', lat: -23.4, lon: -46.5 },
  { name: 'lhr', lat: 51.5, lon: -0.5 },
  { name: 'fra', lat: 50.1, lon: 8.7 },
  { name: 'ams', lat: 52.3, lon: 4.8 },
  { name: 'bom', lat: 19.1, lon: 72.9 },
  { name: 'sin', lat: 1.4, lon: 103.9 },
  { name: 'nrt', lat: 35.8, lon: 140.4 },
  { name: 'syd', lat: -33.9, lon: 151.2 },
]

export interface LatencyModel {
  /** Median one-way delay inside a region, ms. */
  intraMedianMs: number
  /** Log-normal sigma of intra-region delays. */
  intraSigma: number
  /** Fixed part of an inter-region one-way delay, ms. */
  interBaseMs: number
  /** Distance covered per ms one way (fibre ≈ 200 km/ms, routes ~1.5× longer than great circles). */
  kmPerMs: number
  /** Log-normal sigma of the multiplicative jitter on inter-region delays. */
  interSigma: number
  /** Processing at the receiver of a topic message or stream frame (decode, validate, apply, forward), ms. */
  processingMs: number
}

export const DEFAULT_LATENCY: LatencyModel = {
  intraMedianMs: 0.5,
  intraSigma: 0.5,
  interBaseMs: 2,
  kmPerMs: 133,
  interSigma: 0.1,
  processingMs: 1,
}

function greatCircleKm(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const r = Math.PI / 180
  const dLat = (b.lat - a.lat) * r
  const dLon = (b.lon - a.lon) * r
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(dLon / 2) ** 2
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)))
}

export interface ChannelStats {
  messages: number
  bytes: number
}

export interface NodeStats {
  /** Topic messages received over mesh links, first copies and duplicates. */
  topic: ChannelStats
  topicDuplicates: number
  /** Stream frames received (sync). */
  stream: ChannelStats
}

export interface GeoNetwork {
  newTransport(name: string, region: number): Transport
  /** Add an undirected mesh link. */
  link(a: string, b: string): void
  neighbours(name: string): readonly string[]
  region(name: string): number
  /** Block every link between the two groups, both ways. */
  partition(a: readonly string[], b: readonly string[]): void
  heal(): void
  stats(name: string): NodeStats
  /** Sum of every node's stats. */
  totals(): NodeStats
  /** One-way delay sample between two nodes, ms (exposed for reporting the model). */
  sampleDelay(from: string, to: string): number
}

export function createGeoNetwork(opts: {
  clock: SimClock
  random: () => number
  latency?: Partial<LatencyModel>
  dropTopics?: (topic: string) => boolean
  refuseProtocols?: readonly string[]
  streamHighWaterFrames?: number
  seenCacheSize?: number
  /**
   * Extra random nodes (anywhere in the fleet, reachable) that `connectedPeers()` returns besides
   * the mesh neighbours, drawn again on each call: a stand-in for the full membership view from
   * which the real sync scheduler picks its partners. 0 = sync with mesh neighbours only.
   */
  peerSample?: number
}): GeoNetwork {
  const { clock, random } = opts
  const lat: LatencyModel = { ...DEFAULT_LATENCY, ...opts.latency }
  const refuse = new Set(opts.refuseProtocols ?? [])
  const highWater = opts.streamHighWaterFrames ?? 16
  const seenCacheSize = opts.seenCacheSize ?? 20_000
  const nodes = new Map<string, SimTransport>()
  const names: string[] = []
  const peerSample = opts.peerSample ?? 0
  const blocked = new Set<string>()
  const pairKey = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`)
  /** node → side while a partition is on (nodes not listed are on both sides) */
  let sides: Map<string, number> | null = null
  const isBlocked = (a: string, b: string): boolean => {
    if (sides !== null) {
      const sa = sides.get(a)
      const sb = sides.get(b)
      if (sa !== undefined && sb !== undefined && sa !== sb) return true
    }
    return blocked.size > 0 && blocked.has(pairKey(a, b))
  }
  // base one-way delay between regions, ms
  const base: number[][] = REGIONS.map((ra) =>
    REGIONS.map((rb) => (ra === rb ? 0 : lat.interBaseMs + greatCircleKm(ra, rb) / lat.kmPerMs)),
  )
  let spare: number | null = null
  const gauss = (): number => {
    if (spare !== null) {
      const s = spare
      spare = null
      return s
    }
    const u = Math.max(random(), 1e-12)
    const v = random()
    const m = Math.sqrt(-2 * Math.log(u))
    spare = m * Math.sin(2 * Math.PI * v)
    return m * Math.cos(2 * Math.PI * v)
  }
  const sampleDelay = (from: string, to: string): number => {
    const ra = nodes.get(from)?.region ?? 0
    const rb = nodes.get(to)?.region ?? 0
    const d =
      ra === rb
        ? lat.intraMedianMs * Math.exp(lat.intraSigma * gauss())
        : (base[ra]?.[rb] ?? 0) * Math.exp(lat.interSigma * gauss())
    return d + lat.processingMs
  }
  const closed = (what: string) => new Error(what)

  class StreamEnd implements FramedStream {
    peer!: StreamEnd
    readonly inbox: Uint8Array[] = []
    unread = 0
    remoteEnded = false
    writeClosed = false
    error: Error | null = null
    lastDeliverAt = 0
    private readerWake: (() => void) | null = null
    private senderWake: (() => void) | null = null
    constructor(
      readonly owner: SimTransport,
      readonly remotePeer: string,
      readonly protocol: string,
    ) {}
    wakeReader() {
      const w = this.readerWake
      this.readerWake = null
      w?.()
    }
    wakeSender() {
      const w = this.senderWake
      this.senderWake = null
      w?.()
    }
    private deliver(fn: () => void) {
      const at = Math.max(clock.now() + sampleDelay(this.owner.peerId, this.remotePeer), this.lastDeliverAt)
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
        throw closed(`stream ${this.protocol} to ${this.remotePeer} is closed for writing`)
      if (isBlocked(this.owner.peerId, this.remotePeer)) {
        const err = closed(`stream ${this.protocol} to ${this.remotePeer}: unreachable`)
        this.abort(err)
        throw err
      }
      this.unread++
      const copy = frame
      this.deliver(() => {
        if (this.peer.error !== null) return
        const st = this.peer.owner.stats.stream
        st.messages++
        st.bytes += copy.byteLength
        this.peer.inbox.push(copy)
        this.peer.wakeReader()
      })
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
      this.deliver(() => {
        this.peer.remoteEnded = true
        this.peer.wakeReader()
      })
      if (this.peer.writeClosed) {
        this.owner.streams.delete(this)
        this.peer.owner.streams.delete(this.peer)
      }
    }
    abort(reason?: Error): void {
      const err = reason ?? closed(`stream ${this.protocol} with ${this.remotePeer} aborted`)
      for (const end of [this, this.peer]) {
        if (end.error !== null) continue
        end.error = err
        end.wakeReader()
        end.wakeSender()
        end.owner.streams.delete(end)
      }
    }
  }

  class SimTransport implements Transport {
    started = false
    readonly mesh: string[] = []
    readonly streams = new Set<StreamEnd>()
    readonly stats: NodeStats = {
      topic: { messages: 0, bytes: 0 },
      topicDuplicates: 0,
      stream: { messages: 0, bytes: 0 },
    }
    private readonly topics = new Set<string>()
    private readonly handlers = new Map<string, StreamHandler>()
    private readonly messageListeners = new Set<(m: TopicMessage) => void>()
    readonly peerListeners = new Set<(e: PeerEvent) => void>()
    private readonly seen = new Set<string>()
    private counter = 0
    constructor(
      readonly peerId: string,
      readonly region: number,
    ) {}
    async start() {
      this.started = true
    }
    async stop() {
      this.started = false
      for (const s of [...this.streams]) s.abort(closed(`transport ${this.peerId} stopped`))
    }
    addresses() {
      return [this.peerId]
    }
    subscribe(topic: string) {
      this.topics.add(topic)
    }
    async publish(topic: string, data: Uint8Array): Promise<void> {
      if (!this.started) throw closed(`transport ${this.peerId} is not started`)
      if (opts.dropTopics?.(topic) === true) return
      const id = `${this.peerId}#${++this.counter}`
      this.markSeen(id)
      for (const p of this.mesh) this.hop(p, { id, topic, origin: this.peerId, data })
    }
    onMessage(l: (m: TopicMessage) => void) {
      this.messageListeners.add(l)
      return () => this.messageListeners.delete(l)
    }
    handle(protocol: string, handler: StreamHandler) {
      this.handlers.set(protocol, handler)
    }
    async openStream(peer: string, protocol: string): Promise<FramedStream> {
      const remote = nodes.get(peer)
      if (refuse.has(protocol)) throw closed(`${protocol} is not simulated`)
      if (!this.started || remote === undefined || !remote.started || isBlocked(this.peerId, peer))
        throw closed(`cannot open ${protocol} to ${peer}: unreachable`)
      await new Promise<void>((r) => clock.setTimeout(r, sampleDelay(this.peerId, peer)))
      const handler = remote.handlers.get(protocol)
      if (handler === undefined) throw closed(`peer ${peer} does not support ${protocol}`)
      const local = new StreamEnd(this, peer, protocol)
      const other = new StreamEnd(remote, this.peerId, protocol)
      local.peer = other
      other.peer = local
      this.streams.add(local)
      remote.streams.add(other)
      void Promise.resolve()
        .then(() => handler(other))
        .catch((err: unknown) => other.abort(err instanceof Error ? err : new Error(String(err))))
      return local
    }
    async dial(addr: string): Promise<string> {
      if (!nodes.has(addr) || isBlocked(this.peerId, addr)) throw closed(`dial ${addr}: unreachable`)
      return addr
    }
    async hangUp(): Promise<void> {
      /* the mesh is fixed */
    }
    connectedPeers(): string[] {
      const out = this.mesh.filter((p) => !isBlocked(this.peerId, p))
      for (let k = 0, tries = 0; k < peerSample && tries < 4 * peerSample; tries++) {
        const p = names[Math.floor(random() * names.length)] as string
        if (p === this.peerId || out.includes(p) || isBlocked(this.peerId, p)) continue
        out.push(p)
        k++
      }
      return out
    }
    onPeer(l: (e: PeerEvent) => void) {
      this.peerListeners.add(l)
      return () => this.peerListeners.delete(l)
    }
    async ping(peer: string, o: { timeoutMs: number }): Promise<number> {
      const rtt = sampleDelay(this.peerId, peer) + sampleDelay(peer, this.peerId)
      await new Promise<void>((r) => clock.setTimeout(r, Math.min(rtt, o.timeoutMs)))
      if (rtt > o.timeoutMs || isBlocked(this.peerId, peer)) throw closed(`ping ${peer}: timed out`)
      return rtt
    }
    addPeerAddresses() {
      /* names are addresses */
    }
    block(peer: string) {
      blocked.add(pairKey(this.peerId, peer))
    }
    unblock(peer: string) {
      blocked.delete(pairKey(this.peerId, peer))
    }
    emitPeer(e: PeerEvent) {
      for (const l of [...this.peerListeners]) {
        try {
          l(e)
        } catch {
          /* listeners must not break the network */
        }
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
    hop(to: string, env: { id: string; topic: string; origin: string; data: Uint8Array }) {
      if (isBlocked(this.peerId, to)) return
      const from = this.peerId
      clock.setTimeout(() => nodes.get(to)?.receive(from, env), sampleDelay(from, to))
    }
    receive(from: string, env: { id: string; topic: string; origin: string; data: Uint8Array }) {
      if (!this.started || isBlocked(from, this.peerId)) return
      this.stats.topic.messages++
      this.stats.topic.bytes += env.data.byteLength
      if (!this.markSeen(env.id)) {
        this.stats.topicDuplicates++
        return
      }
      for (const p of this.mesh) if (p !== from && p !== env.origin) this.hop(p, env)
      if (!this.topics.has(env.topic)) return
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

  const network: GeoNetwork = {
    newTransport(name, region) {
      const t = new SimTransport(name, region)
      nodes.set(name, t)
      names.push(name)
      return t
    },
    link(a, b) {
      const na = nodes.get(a)
      const nb = nodes.get(b)
      if (na === undefined || nb === undefined || a === b || na.mesh.includes(b)) return
      na.mesh.push(b)
      nb.mesh.push(a)
    },
    neighbours: (name) => nodes.get(name)?.mesh ?? [],
    region: (name) => nodes.get(name)?.region ?? -1,
    partition(a, b) {
      sides = new Map()
      for (const x of a) sides.set(x, 1)
      for (const y of b) sides.set(y, 2)
      for (const x of a) {
        const n = nodes.get(x)
        if (n === undefined) continue
        for (const st of [...n.streams])
          if (isBlocked(x, st.remotePeer)) st.abort(closed(`partitioned from ${st.remotePeer}`))
        for (const p of n.mesh) {
          if (!isBlocked(x, p)) continue
          n.emitPeer({ type: 'disconnect', peer: p })
          nodes.get(p)?.emitPeer({ type: 'disconnect', peer: x })
        }
      }
    },
    heal() {
      const was = sides
      sides = null
      blocked.clear()
      if (was === null) return
      for (const [x, side] of was) {
        if (side !== 1) continue
        const n = nodes.get(x)
        for (const p of n?.mesh ?? []) {
          if (was.get(p) !== 2) continue
          n?.emitPeer({ type: 'connect', peer: p })
          nodes.get(p)?.emitPeer({ type: 'connect', peer: x })
        }
      }
    },
    stats: (name) => (nodes.get(name) as SimTransport).stats,
    totals() {
      const t: NodeStats = {
        topic: { messages: 0, bytes: 0 },
        topicDuplicates: 0,
        stream: { messages: 0, bytes: 0 },
      }
      for (const n of nodes.values()) {
        t.topic.messages += n.stats.topic.messages
        t.topic.bytes += n.stats.topic.bytes
        t.topicDuplicates += n.stats.topicDuplicates
        t.stream.messages += n.stats.stream.messages
        t.stream.bytes += n.stats.stream.bytes
      }
      return t
    },
    sampleDelay,
  }
  return network
}
