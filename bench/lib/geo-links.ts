/**
 * A wide-area link model for `bench/sim.ts`, plugged into the in-memory network of
 * `@patina/node` (`createMemoryNetwork({ links })`, the same network the tests use):
 *
 * - regions: every node lives in one; the one-way delay of a hop is drawn per message from the
 *   link's distribution (intra-region or region-to-region, see {@link LatencyModel}), plus a
 *   fixed processing time at the receiver;
 * - an explicit, fixed mesh ({@link randomMesh}): topic messages flow over mesh links only
 *   (gossipsub's eager push over its mesh, without IHAVE/IWANT gossip, mesh maintenance or
 *   scoring), while streams (anti-entropy sync) may go to any node;
 * - topics that `carries` rejects and stream protocols in `refuseProtocols` are not carried
 *   (the sim turns most of membership off this way).
 *
 * Every draw comes from the network's seeded source, so a run is reproducible from its seed.
 */
import type { Hop, HopFate, LinkModel } from '@patina/node'

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

export function greatCircleKm(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const r = Math.PI / 180
  const dLat = (b.lat - a.lat) * r
  const dLon = (b.lon - a.lon) * r
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(dLon / 2) ** 2
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)))
}

/**
 * One one-way delay, pure given the standard normal draw `z`: log-normal around the intra-region
 * median, or the region pair's base delay with log-normal jitter; plus processing.
 */
export function oneWayDelayMs(lat: LatencyModel, baseMs: number, sameRegion: boolean, z: number): number {
  const d = sameRegion
    ? lat.intraMedianMs * Math.exp(lat.intraSigma * z)
    : baseMs * Math.exp(lat.interSigma * z)
  return d + lat.processingMs
}

/** An undirected, fixed gossip mesh. */
export interface Mesh {
  has(a: string, b: string): boolean
  /** Every link once, as `[a, b]`. */
  readonly links: readonly (readonly [string, string])[]
}

/** Each node links to `degree / 2` random others (mean degree `degree`, as gossipsub's D). */
export function randomMesh(names: readonly string[], degree: number, random: () => number): Mesh {
  const key = (a: string, b: string): string => (a < b ? `${a}|${b}` : `${b}|${a}`)
  const set = new Set<string>()
  const links: [string, string][] = []
  const n = names.length
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < degree / 2; k++) {
      let j = Math.floor(random() * n)
      if (j === i) j = (j + 1) % n
      const a = names[i] as string
      const b = names[j] as string
      if (a === b || set.has(key(a, b))) continue
      set.add(key(a, b))
      links.push([a, b])
    }
  }
  return { has: (a, b) => set.has(key(a, b)), links }
}

export interface GeoLinks extends LinkModel {
  /** One one-way delay sample between two nodes, ms (for reporting the model). */
  sampleDelay(from: string, to: string, random: () => number): number
}

export function geoLinks(opts: {
  /** Index into {@link REGIONS} of a node. */
  regionOf: (name: string) => number
  mesh: Mesh
  latency?: Partial<LatencyModel>
  /** Topics carried; every one when absent. */
  carries?: (topic: string) => boolean
  refuseProtocols?: readonly string[]
}): GeoLinks {
  const lat: LatencyModel = { ...DEFAULT_LATENCY, ...opts.latency }
  const refuse = new Set(opts.refuseProtocols ?? [])
  // base one-way delay between regions, ms
  const base: number[][] = REGIONS.map((ra) =>
    REGIONS.map((rb) => (ra === rb ? 0 : lat.interBaseMs + greatCircleKm(ra, rb) / lat.kmPerMs)),
  )
  // Box-Muller, keeping the second normal of each pair
  let spare: number | null = null
  const gauss = (random: () => number): number => {
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
  const sampleDelay = (from: string, to: string, random: () => number): number => {
    const ra = opts.regionOf(from)
    const rb = opts.regionOf(to)
    return oneWayDelayMs(lat, base[ra]?.[rb] ?? 0, ra === rb, gauss(random))
  }
  return {
    sampleDelay,
    carriesTopics: (a, b) => opts.mesh.has(a, b),
    hop(h: Hop, random): HopFate {
      switch (h.kind) {
        case 'topic':
          return opts.carries?.(h.topic) === false ? [] : [sampleDelay(h.from, h.to, random)]
        case 'open':
          return refuse.has(h.protocol) ? [] : [sampleDelay(h.from, h.to, random)]
        case 'frame':
          return [sampleDelay(h.from, h.to, random)]
        case 'dial':
        case 'ping':
          return [sampleDelay(h.from, h.to, random) + sampleDelay(h.to, h.from, random)]
      }
    },
  }
}
