/**
 * `pnpm bench sim`: Patina's broadcast and anti-entropy sync at fleet scale, simulated.
 *
 * Every node is a real `createCluster` (broadcaster, apply queue, sync server and scheduler)
 * over a real state engine (`createStateEngine` on an in-memory SQLite database), all in this
 * process, on the in-memory network of `@patina/node` with a wide-area link model
 * (`lib/geo-links.ts`) under its virtual clock in quantised mode (`createVirtualClock`, instants
 * of 0.25 ms). Nodes are spread round-robin over 12 regions; per-hop one-way delays are
 * drawn from a seeded model (log-normal around 0.5 ms inside a region; 2 ms + great-circle
 * distance / 133 km per ms with ±10 % log-normal jitter between regions; plus 1 ms of receiver
 * processing per hop). The gossip mesh is a fixed random graph (each node links to DEGREE/2
 * random others, so the mean degree is DEGREE, like gossipsub's D = 6): the nodes dial their mesh
 * links before they start, and redial those cut by the partition when it heals, as membership
 * upkeep would.
 *
 * What it leaves out (see docs/benchmarks.md): gossipsub's IHAVE/IWANT lazy gossip, mesh
 * maintenance and scoring (the network floods over the fixed mesh); most of SWIM membership
 * (probes, push-pull and maintenance run once an hour and their streams are refused; the
 * sync scheduler sees the mesh neighbours, the writers' member records and, with
 * BENCH_SIM_SYNC_SAMPLE > 0, that many random nodes of the fleet drawn again at each round;
 * member-alive transitions, which trigger a sync round in Patina, never happen); CPU time
 * (apply, encode and decode take no virtual time beyond the fixed processing delay), bandwidth
 * limits and packet loss.
 *
 * Since commit 02b45f0 the broadcaster refuses a gossiped changeset unless the membership table
 * maps its publisher to the changeset's actor. So that the check passes without running
 * membership at fleet scale, the nodes that will write in the run (drawn up front) announce
 * themselves every second, and the membership topic is carried (flooded over the mesh) during the
 * first 3 s only: every node then holds those writers as alive members, and nothing else.
 *
 * Scenarios per size (SIZES, default 100,1000,5000):
 * 1. WRITES single-row writes from random nodes, one every WRITE_GAP_MS: time until every node
 *    has applied each write (p50/p99 over writes), and the per-node arrival distribution;
 *    topic messages and bytes received per node per write; sync traffic per node per second.
 * 2. Partition: the nodes of the Americas vs the rest for PARTITION_MS, PART_WRITES writes on each
 *    side, then heal: time until every node has every write (sync only: gossip does not resend).
 */
import pino from 'pino'
import { Registry } from 'prom-client'
import { createStateEngine, type StateEngine } from '@patina/core'
import {
  createCluster,
  createMemoryNetwork,
  createVirtualClock,
  PRESETS,
  type Cluster,
  type MemoryNetworkStats,
  type Transport,
} from '@patina/node'
import { DEFAULT_LATENCY, geoLinks, randomMesh, REGIONS } from './lib/geo-links.js'
import { linePlot, cdfPlot } from './lib/plot.js'
import { percentile, progress, report, type Row } from './lib/report.js'
import { mulberry32 } from '../test/helpers/random.js'

const SIZES = (process.env['BENCH_SIM_SIZES'] ?? '100,1000,5000').split(',').map(Number)
const DEGREE = Number(process.env['BENCH_SIM_DEGREE'] ?? 6)
const WRITES = Number(process.env['BENCH_SIM_WRITES'] ?? 40)
const WRITE_GAP_MS = 250
const PART_WRITES = Number(process.env['BENCH_SIM_PART_WRITES'] ?? 10)
const PARTITION_MS = Number(process.env['BENCH_SIM_PARTITION_MS'] ?? 30_000)
const SEED = Number(process.env['BENCH_SIM_SEED'] ?? 42)
/** Random fleet-wide nodes offered to the sync scheduler besides mesh neighbours (0 = neighbours only). */
const SYNC_SAMPLE = Number(process.env['BENCH_SIM_SYNC_SAMPLE'] ?? 0)
const SCHEMA = 'CREATE TABLE sim (id INTEGER NOT NULL PRIMARY KEY, origin TEXT, v TEXT);'
/** The Americas (iad, ord, dfw, sjc, gru) against the rest. */
const AMERICAS = new Set(['iad', 'ord', 'dfw', 'sjc', 'gru'])
const HOUR = 3_600_000

/**
 * `transport` whose `connectedPeers()` also offers `sample` random other nodes, drawn again on
 * each call: a stand-in for the full membership view from which the real sync scheduler picks.
 */
function withPeerSample(
  transport: Transport,
  names: readonly string[],
  sample: number,
  random: () => number,
): Transport {
  if (sample === 0) return transport
  const connectedPeers = (): string[] => {
    const out = transport.connectedPeers()
    for (let k = 0, tries = 0; k < sample && tries < 4 * sample; tries++) {
      const p = names[Math.floor(random() * names.length)] as string
      if (p === transport.peerId || out.includes(p)) continue
      out.push(p)
      k++
    }
    return out
  }
  return new Proxy(transport, {
    get(target, key) {
      if (key === 'connectedPeers') return connectedPeers
      const v: unknown = Reflect.get(target, key)
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}

interface Node {
  name: string
  engine: StateEngine
  cluster: Cluster
}

interface SizeResult {
  n: number
  complete: number[]
  arrivals: number[]
  msgsPerNodePerWrite: number
  dupPerNodePerWrite: number
  bytesPerNodePerWrite: number
  syncBytesPerNodePerSec: number
  syncMsgsPerNodePerSec: number
  healMs: number
  healedFraction: number
  beforeHealFraction: number
  wallSecs: number
  rssMiB: number
  incomplete: number
}

async function simulate(n: number): Promise<SizeResult> {
  const wall0 = performance.now()
  return simulateIn(n, wall0)
}

async function simulateIn(n: number, wall0: number): Promise<SizeResult> {
  const random = mulberry32(SEED + n)
  const clock = createVirtualClock({ step: 'instant', quantumMs: 0.25 })
  /** The membership topic is carried only during the warm-up (see the header). */
  let membershipOn = true
  const logger = pino({ level: 'silent' })
  const registry = new Registry()
  const nodes: Node[] = []
  const names: string[] = []
  for (let i = 0; i < n; i++) names.push(`n${i}`)
  const regionOf = (name: string): number => Number(name.slice(1)) % REGIONS.length
  const mesh = randomMesh(names, DEGREE, random)
  const net = createMemoryNetwork({
    seed: SEED + n,
    random,
    clock,
    seenCacheSize: 20_000,
    links: geoLinks({
      regionOf,
      mesh,
      carries: (t) => t.includes('/changes/') || membershipOn,
      refuseProtocols: ['/patina/probe/1', '/patina/members/1'],
    }),
  })
  const transports = names.map((name) => withPeerSample(net.newTransport(name), names, SYNC_SAMPLE, random))
  const transportOf = (name: string): Transport => transports[Number(name.slice(1))] as Transport
  /** Dial every mesh link (a connected one at once); the caller moves the clock. */
  const dialMesh = (): Promise<unknown> =>
    Promise.all(
      mesh.links.map(([a, b]) =>
        transportOf(a)
          .dial(b)
          .catch(() => undefined),
      ),
    )
  for (const t of transports) await t.start()
  const dialled = dialMesh()
  await clock.advance(1000)
  await dialled
  // arrivals: write id → virtual time each node applied it
  const origin = new Map<number, number>()
  const arrivals = new Map<number, number[]>()
  // The writers are drawn up front: their member records seed every node's membership table
  // (see the header), which is all the broadcaster's publisher check consults.
  const pick = mulberry32(SEED * 7 + n)
  const sideAIdx = names.map((_, i) => i).filter((i) => AMERICAS.has(REGIONS[i % REGIONS.length]?.name ?? ''))
  const sideBIdx = names
    .map((_, i) => i)
    .filter((i) => !AMERICAS.has(REGIONS[i % REGIONS.length]?.name ?? ''))
  const from = (idx: number[]) => idx[Math.floor(pick() * idx.length)] as number
  const writers = Array.from({ length: WRITES }, () => Math.floor(pick() * n))
  const partWriters = Array.from({ length: PART_WRITES }, () => [from(sideAIdx), from(sideBIdx)] as const)
  progress(`n=${n}: creating ${n} engines and clusters`)
  const engines: StateEngine[] = []
  for (let i = 0; i < n; i++) {
    const engine = createStateEngine({ path: ':memory:', schema: SCHEMA, cacheSizeKib: 256, clock })
    engine.onCommit((ev) => {
      if (ev.source !== 'remote') return
      const t = clock.now()
      for (const r of ev.rows) {
        // keys come back as SQLite gives them: integers as bigint
        const id = Number(r.pkValues[0])
        const a = arrivals.get(id)
        if (a !== undefined) a.push(t)
      }
    })
    engines.push(engine)
  }
  const writerSet = new Set([...writers, ...partWriters.flat()])
  for (let i = 0; i < n; i++) {
    const name = names[i] as string
    const engine = engines[i] as StateEngine
    // every node registers the same metric names: give each its own registry
    const cluster = createCluster(
      {
        engine,
        transport: transports[i] as Transport,
        logger,
        registry: i === 0 ? registry : new Registry(),
        clock,
        random,
      },
      {
        clusterId: 'sim',
        preset: PRESETS.lan,
        // membership is not simulated (see the header): keep its timers out of the way
        membership: {
          probeIntervalMs: HOUR,
          announceIntervalMs: writerSet.has(i) ? 1000 : HOUR,
          maintainIntervalMs: HOUR,
          pushPullIntervalMs: HOUR,
          targetConnections: DEGREE,
        },
      },
    )
    nodes.push({ name, engine, cluster })
    if (i % 500 === 499) progress(`  ${i + 1} nodes`)
  }
  for (const nd of nodes) await nd.cluster.start()
  await clock.advance(3000)
  membershipOn = false
  await clock.advance(1000) // let the last membership floods drain before counting
  const net0 = net.stats()

  // ---------------------------------------------------------------- 1. propagation
  progress(`n=${n}: ${WRITES} writes, one every ${WRITE_GAP_MS} ms (virtual)`)
  const write = (id: number, at: Node): void => {
    origin.set(id, clock.now())
    arrivals.set(id, [])
    const r = at.engine.transaction([
      { sql: 'INSERT INTO sim (id, origin, v) VALUES (?, ?, ?)', params: [id, at.name, `v${id}`] },
    ])
    at.cluster.publishLocal(r.changesets)
  }
  for (let w = 0; w < WRITES; w++) {
    write(w, nodes[writers[w] as number] as Node)
    await clock.advance(WRITE_GAP_MS)
  }
  const everyone = (ids: number[]) => () => ids.every((id) => (arrivals.get(id)?.length ?? 0) >= n - 1)
  const ids = Array.from({ length: WRITES }, (_, i) => i)
  await clock.runUntil(everyone(ids), 120_000)
  const net1 = net.stats()
  const complete: number[] = []
  const allArrivals: number[] = []
  let incomplete = 0
  for (const id of ids) {
    const a = arrivals.get(id) as number[]
    const o = origin.get(id) as number
    for (const t of a) allArrivals.push(t - o)
    if (a.length >= n - 1) complete.push(Math.max(...a) - o)
    else incomplete++
  }
  // sync traffic in a quiet period (after propagation), per node per second
  const q0 = net.stats()
  await clock.advance(10_000)
  const q1 = net.stats()

  // ---------------------------------------------------------------- 2. partition and heal
  progress(`n=${n}: partition Americas | rest for ${PARTITION_MS} ms with ${PART_WRITES} writes per side`)
  const sideA = nodes.filter((nd) => AMERICAS.has(REGIONS[regionOf(nd.name)]?.name ?? ''))
  const sideB = nodes.filter((nd) => !AMERICAS.has(REGIONS[regionOf(nd.name)]?.name ?? ''))
  net.partition(
    sideA.map((x) => x.name),
    sideB.map((x) => x.name),
  )
  const partIds: number[] = []
  for (let w = 0; w < PART_WRITES; w++) {
    const a = 10_000 + w
    const b = 20_000 + w
    const [wa, wb] = partWriters[w] as readonly [number, number]
    write(a, nodes[wa] as Node)
    write(b, nodes[wb] as Node)
    partIds.push(a, b)
    await clock.advance(200)
  }
  await clock.advance(PARTITION_MS - PART_WRITES * 200)
  const have = () => partIds.reduce((s, id) => s + (arrivals.get(id)?.length ?? 0), 0)
  const beforeHeal = have() / (partIds.length * (n - 1))
  progress(`n=${n}: heal`)
  net.heal()
  const tHeal = clock.now()
  void dialMesh()
  const healed = await clock.runUntil(everyone(partIds), 300_000)
  const healMs = clock.now() - tHeal
  const healedFraction = have() / (partIds.length * (n - 1))

  const rssMiB = process.memoryUsage().rss / 2 ** 20
  progress(`n=${n}: stopping`)
  for (const nd of nodes) {
    void nd.cluster.stop()
  }
  await clock.advance(6000)
  for (const nd of nodes) nd.engine.close()
  const writesN = WRITES
  const perNode = (a: MemoryNetworkStats, b: MemoryNetworkStats, k: keyof MemoryNetworkStats): number =>
    (b[k] - a[k]) / n
  return {
    n,
    complete,
    arrivals: allArrivals,
    msgsPerNodePerWrite: perNode(net0, net1, 'topicHops') / writesN,
    dupPerNodePerWrite: perNode(net0, net1, 'topicSeen') / writesN,
    bytesPerNodePerWrite: perNode(net0, net1, 'topicBytes') / writesN,
    syncBytesPerNodePerSec: perNode(q0, q1, 'streamBytes') / 10,
    syncMsgsPerNodePerSec: perNode(q0, q1, 'streamFrames') / 10,
    healMs: healed ? healMs : NaN,
    healedFraction,
    beforeHealFraction: beforeHeal,
    wallSecs: (performance.now() - wall0) / 1000,
    rssMiB,
    incomplete,
  }
}

export async function run(): Promise<void> {
  const rows: Row[] = []
  const results: SizeResult[] = []
  for (const n of SIZES) {
    const r = await simulate(n)
    results.push(r)
    rows.push({
      nodes: String(n),
      'p50 all nodes (ms)': percentile(r.complete, 50),
      'p99 all nodes (ms)': percentile(r.complete, 99),
      'per-node p50 (ms)': percentile(r.arrivals, 50),
      'per-node p99 (ms)': percentile(r.arrivals, 99),
      'msgs/node/change': r.msgsPerNodePerWrite,
      'dup/node/change': r.dupPerNodePerWrite,
      'bytes/node/change': r.bytesPerNodePerWrite,
      'sync B/node/s idle': r.syncBytesPerNodePerSec,
      'heal → converged (ms)': r.healMs,
      'wall s': r.wallSecs,
    })
    progress(`n=${n}: done in ${r.wallSecs.toFixed(0)} s, RSS ${r.rssMiB.toFixed(0)} MiB`)
  }
  const plots = [
    await linePlot(
      'sim-propagation.svg',
      results.flatMap((r) => [
        { series: 'p50 until every node has it', x: r.n, y: percentile(r.complete, 50) },
        { series: 'p99 until every node has it', x: r.n, y: percentile(r.complete, 99) },
        { series: 'per-node arrival p50', x: r.n, y: percentile(r.arrivals, 50) },
        { series: 'Corrosion published p99 (~800 servers)', x: r.n, y: 1000 },
      ]),
      {
        title: 'Simulated propagation vs cluster size (12 regions, mesh degree 6)',
        xTitle: 'nodes (log)',
        yTitle: 'ms (virtual time)',
        logX: true,
      },
    ),
    await cdfPlot('sim-arrivals.svg', Object.fromEntries(results.map((r) => [`${r.n} nodes`, r.arrivals])), {
      title: 'Simulated per-node arrival time of a change',
      xTitle: 'ms after the commit (log)',
    }),
  ]
  report('sim', rows, {
    plots,
    model: {
      regions: REGIONS.map((r) => r.name),
      latency: DEFAULT_LATENCY,
      meshDegree: DEGREE,
      syncSample: SYNC_SAMPLE,
      seed: SEED,
      writes: WRITES,
      writeGapMs: WRITE_GAP_MS,
      partitionMs: PARTITION_MS,
      partitionWritesPerSide: PART_WRITES,
      clockQuantumMs: 0.25,
      preset: 'lan (membership timers off)',
    },
    details: results.map((r) => ({
      n: r.n,
      incomplete: r.incomplete,
      syncMsgsPerNodePerSec: r.syncMsgsPerNodePerSec,
      beforeHealFraction: r.beforeHealFraction,
      healedFraction: r.healedFraction,
      rssMiB: r.rssMiB,
    })),
  })
}
