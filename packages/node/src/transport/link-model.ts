/**
 * Link models for the in-memory network (`memory.ts`): what happens to one hop on a link
 * that is not blocked. The network keeps the mechanics (connections, streams, flooding,
 * blocks and partitions, pauses); a link model decides each hop's fate — lost, or delivered
 * after a delay, possibly twice — and which connections carry topic messages (the gossip mesh).
 *
 * Two models: {@link uniformLinks} (the default; the same seeded loss, duplication and
 * uniform delay on every link, for tests) and any model written against {@link LinkModel},
 * such as the bench's geographic one (`bench/lib/geo-links.ts`: per-pair latency by region
 * over a fixed mesh).
 */
import type { RandomSource } from '../runtime/clock.js'

/**
 * One hop across a link. `topic`: one hop of a flooded topic message. `frame`: a stream
 * frame or end of stream (never lost: streams are reliable). `open`: opening a stream
 * (lost = refused). `dial` and `ping`: a round trip.
 */
export type Hop =
  | { kind: 'topic'; from: string; to: string; topic: string }
  | { kind: 'frame'; from: string; to: string }
  | { kind: 'open'; from: string; to: string; protocol: string }
  | { kind: 'dial' | 'ping'; from: string; to: string }

/**
 * The fate of a hop: one delay (ms) per copy delivered. `[]`: lost; two entries: duplicated
 * (only topic hops may be). For `dial` and `ping` the one delay is the round trip.
 */
export type HopFate = readonly number[]

export interface LinkModel {
  /** Decide one hop; called only for links that are not blocked. Draws come from `random`. */
  hop(hop: Hop, random: RandomSource): HopFate
  /** Whether a connection between `a` and `b` carries topic messages; every connection when absent. */
  carriesTopics?(a: string, b: string): boolean
}

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

export const DEFAULT_MEMORY_FAULTS: MemoryFaults = {
  dropRate: 0,
  duplicateRate: 0,
  minDelayMs: 0,
  maxDelayMs: 1,
}

/**
 * The uniform model's decision, pure given the draws: a topic hop is lost with `dropRate`,
 * else delivered once or (with `duplicateRate`) twice, each copy after its own uniform delay
 * in `[minDelayMs, maxDelayMs]`; frames and stream opens are delayed once; dials and pings
 * take twice one delay (a round trip). Draw order: loss, duplication, then one per delay.
 */
export function uniformHop(faults: MemoryFaults, kind: Hop['kind'], random: RandomSource): HopFate {
  const delay = (): number =>
    faults.minDelayMs + random() * Math.max(0, faults.maxDelayMs - faults.minDelayMs)
  switch (kind) {
    case 'topic': {
      if (random() < faults.dropRate) return []
      const copies = random() < faults.duplicateRate ? 2 : 1
      return copies === 2 ? [delay(), delay()] : [delay()]
    }
    case 'frame':
    case 'open':
      return [delay()]
    case 'dial':
    case 'ping':
      return [2 * delay()]
  }
}

/** The default link model: {@link uniformHop} on every link, its faults changeable at run time. */
export interface UniformLinks extends LinkModel {
  readonly faults: MemoryFaults
  setFaults(faults: Partial<MemoryFaults>): void
}

export function uniformLinks(faults?: Partial<MemoryFaults>): UniformLinks {
  let current: MemoryFaults = { ...DEFAULT_MEMORY_FAULTS, ...faults }
  return {
    get faults() {
      return current
    },
    setFaults(f) {
      current = { ...current, ...f }
    },
    hop: (h, random) => uniformHop(current, h.kind, random),
  }
}
