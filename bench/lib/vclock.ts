/**
 * A virtual clock for fleet-scale simulations (the `ClusterClock` shape `createCluster` takes).
 *
 * Time moves only in {@link SimClock.runUntil}. Timers are grouped into instants of `quantumMs`
 * (due times are rounded up to the quantum): every timer of one instant runs, then one macrotask
 * turn lets the promise chains they started settle, then the next instant. With thousands of
 * nodes this is what keeps a run in minutes: settling after every single timer (as the
 * test clock in `packages/node/src/runtime/clock.ts` does) costs one event-loop turn per timer.
 * The price is an ordering error of at most one quantum between timers of the same instant.
 */
export interface SimClock {
  now(): number
  setTimeout(fn: () => void, ms: number): { readonly id: number }
  clearTimeout(handle: unknown): void
  /** Run instants until `done()` holds (checked after each instant) or `maxMs` of virtual time pass. */
  runUntil(done: () => boolean, maxMs: number): Promise<boolean>
  /** Run every instant within the next `ms`. */
  advance(ms: number): Promise<void>
  pending(): number
}

export function createSimClock(quantumMs = 0.25, startMs = 1_700_000_000_000): SimClock {
  let now = startMs
  let nextId = 1
  /** instant (quantum index) → callbacks in scheduling order; ids of live timers */
  const buckets = new Map<number, { id: number; fn: () => void }[]>()
  const live = new Set<number>()
  // min-heap of instants that have a bucket
  const heap: number[] = []
  const push = (v: number) => {
    heap.push(v)
    let i = heap.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if ((heap[p] as number) <= v) break
      heap[i] = heap[p] as number
      i = p
    }
    heap[i] = v
  }
  const pop = (): number | undefined => {
    const top = heap[0]
    const last = heap.pop()
    if (heap.length > 0 && last !== undefined) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        let mv = last
        if (l < heap.length && (heap[l] as number) < mv) {
          m = l
          mv = heap[l] as number
        }
        if (r < heap.length && (heap[r] as number) < mv) m = r
        if (m === i) break
        heap[i] = heap[m] as number
        i = m
      }
      heap[i] = last
    }
    return top
  }
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve))
  const startInstant = Math.ceil(startMs / quantumMs)

  const step = async (limitMs: number): Promise<boolean> => {
    await settle()
    for (;;) {
      const q = heap[0]
      if (q === undefined) return false
      const at = q * quantumMs
      if (at > limitMs) return false
      pop()
      const bucket = buckets.get(q)
      buckets.delete(q)
      if (bucket === undefined) continue
      if (at > now) now = at
      let ran = false
      for (const t of bucket) {
        if (!live.delete(t.id)) continue
        ran = true
        try {
          t.fn()
        } catch (err) {
          // a timer callback must not stop the simulation
          console.error('timer callback failed', err)
        }
      }
      if (ran) return true
    }
  }

  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++
      const q = Math.max(Math.ceil((now + Math.max(0, ms)) / quantumMs), startInstant)
      let b = buckets.get(q)
      if (b === undefined) {
        b = []
        buckets.set(q, b)
        push(q)
      }
      b.push({ id, fn })
      live.add(id)
      return { id }
    },
    clearTimeout(handle) {
      if (typeof handle === 'object' && handle !== null && 'id' in handle)
        live.delete((handle as { id: number }).id)
    },
    async runUntil(done, maxMs) {
      const limit = now + maxMs
      for (;;) {
        if (done()) return true
        if (!(await step(limit))) {
          await settle()
          if (done()) return true
          now = Math.max(now, limit)
          return false
        }
      }
    },
    async advance(ms) {
      const limit = now + ms
      while (await step(limit)) {
        /* keep going */
      }
      now = Math.max(now, limit)
      await settle()
    },
    pending: () => live.size,
  }
}
