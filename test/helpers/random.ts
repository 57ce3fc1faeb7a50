/**
 * The seeded random source of tests, checkers and benchmarks (mulberry32): small, fast, and the
 * same sequence for the same seed everywhere, so that a failing run replays from its printed
 * seed. Hook-free: `bench/` imports it too. (The cluster layer's own source is
 * `seededRandom` in `packages/node/src/runtime/clock.ts`.)
 */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
