/**
 * Blocked links of the in-memory network: single directed blocks (`block(a, b)`: nothing from
 * a reaches b) and partitions between groups, kept as the groups themselves so that cutting a
 * fleet of thousands in two costs one entry, not one per pair. `unblock` lifts one directed
 * link whatever blocked it, until a later `block` or `partition` covers it again.
 */

export interface Blocks {
  block(from: string, to: string): void
  unblock(from: string, to: string): void
  /** Cut every link from `a` to `b`, and from `b` to `a` unless `oneWay`. */
  partition(a: readonly string[], b: readonly string[], oneWay: boolean): void
  heal(): void
  isBlocked(from: string, to: string): boolean
  /** Neither direction is blocked. */
  reachable(a: string, b: string): boolean
}

interface Cut {
  a: ReadonlySet<string>
  b: ReadonlySet<string>
  oneWay: boolean
}

const cuts = (c: Cut, from: string, to: string): boolean =>
  (c.a.has(from) && c.b.has(to)) || (!c.oneWay && c.b.has(from) && c.a.has(to))

export function createBlocks(): Blocks {
  const key = (a: string, b: string): string => `${a}\u0000${b}`
  const blocked = new Set<string>()
  const partitions: Cut[] = []
  /** links lifted by `unblock` although a partition covers them: key → [from, to] */
  const lifted = new Map<string, readonly [string, string]>()

  const isBlocked = (from: string, to: string): boolean => {
    if (blocked.size > 0 && blocked.has(key(from, to))) return true
    if (partitions.length === 0) return false
    if (lifted.size > 0 && lifted.has(key(from, to))) return false
    return partitions.some((c) => cuts(c, from, to))
  }
  return {
    block(from, to) {
      blocked.add(key(from, to))
      lifted.delete(key(from, to))
    },
    unblock(from, to) {
      blocked.delete(key(from, to))
      if (partitions.some((c) => cuts(c, from, to))) lifted.set(key(from, to), [from, to])
    },
    partition(a, b, oneWay) {
      const cut: Cut = { a: new Set(a), b: new Set(b), oneWay }
      partitions.push(cut)
      for (const [k, [from, to]] of lifted) if (cuts(cut, from, to)) lifted.delete(k)
    },
    heal() {
      blocked.clear()
      partitions.length = 0
      lifted.clear()
    },
    isBlocked,
    reachable: (a, b) => !isBlocked(a, b) && !isBlocked(b, a),
  }
}
