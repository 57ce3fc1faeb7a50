import { mulberry32 } from '../../../../../test/helpers/random.js'
/** A small seeded random source (mulberry32): the same seed gives the same run. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
  /** Integer in [min, max]. */
  int(min: number, max: number): number
  chance(p: number): boolean
  pick<T>(xs: readonly T[]): T
  /** `k` distinct elements, in random order. */
  sample<T>(xs: readonly T[], k: number): T[]
}

export function createRng(seed: number): Rng {
  const next = mulberry32(seed)
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1))
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: (xs) => {
      if (xs.length === 0) throw new RangeError('pick from an empty list')
      return xs[int(0, xs.length - 1)] as never
    },
    sample: (xs, k) => {
      const copy = [...xs]
      for (let i = copy.length - 1; i > 0; i--) {
        const j = int(0, i)
        ;[copy[i], copy[j]] = [copy[j] as never, copy[i] as never]
      }
      return copy.slice(0, Math.min(k, copy.length))
    },
  }
}
