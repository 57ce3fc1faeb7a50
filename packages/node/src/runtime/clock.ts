/**
 * Time and randomness sources for the cluster layer, injected so that the
 * decision code can run under a virtual clock and a seeded random source.
 */

/** An opaque timer handle. */
export type TimerHandle = { readonly id: number } | ReturnType<typeof setTimeout>

/** Wall-clock milliseconds plus timers. Everything in the cluster layer schedules through this. */
export interface ClusterClock {
  /** Milliseconds since the epoch (or since the start of a virtual clock). */
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

/** A random source returning floats in `[0, 1)`, like `Math.random`. */
export type RandomSource = () => number

/** The process clock: `Date.now` and the global timers (unref'd so they never keep the process alive). */
export const systemClock: ClusterClock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms))
    t.unref?.()
    return t
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>)
  },
}

/**
 * A seeded pseudo-random source (sfc32 seeded through splitmix32). Same seed, same sequence.
 */
export function seededRandom(seed: number): RandomSource {
  let s = seed >>> 0
  const split = (): number => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = split()
  let b = split()
  let c = split()
  let d = split()
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) >>> 0
    return t / 4294967296
  }
}

/** Uniform integer in `[0, n)`. */
export function randomInt(random: RandomSource, n: number): number {
  return Math.min(n - 1, Math.floor(random() * n))
}

/** Fisher-Yates shuffle of a copy. */
export function shuffled<T>(items: readonly T[], random: RandomSource): T[] {
  const out = items.slice()
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1)
    const tmp = out[i] as T
    out[i] = out[j] as T
    out[j] = tmp
  }
  return out
}

/** A promise resolved after `ms` on `clock`; rejects early with the signal's reason when aborted. */
export function sleep(clock: ClusterClock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error)
      return
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle)
      reject(signal?.reason as Error)
    }
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Races `promise` against a timeout on `clock`; rejects with `onTimeout()` when it fires first. */
export function withTimeout<T>(
  clock: ClusterClock,
  promise: Promise<T>,
  ms: number,
  onTimeout: () => Error,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const handle = clock.setTimeout(() => reject(onTimeout()), ms)
    promise.then(
      (v) => {
        clock.clearTimeout(handle)
        resolve(v)
      },
      (e: unknown) => {
        clock.clearTimeout(handle)
        reject(e instanceof Error ? e : new Error(String(e)))
      },
    )
  })
}

/**
 * A virtual clock for deterministic simulations: time only moves when the driver
 * calls {@link VirtualClock.advance} or {@link VirtualClock.runUntil}, and between
 * steps pending promise callbacks run (macrotask turns are yielded), so async code
 * that waits only on this clock runs to quiescence at each step.
 *
 * Two ways to step ({@link VirtualClockOptions}): one timer at a time in exact order
 * (tests), or every timer of one instant at once, optionally with instants rounded to a
 * quantum (many-node simulations: `test/chaos/lib/sim.ts`, `bench/sim.ts`).
 */
export interface VirtualClock extends ClusterClock {
  /** Run every timer due within the next `ms` milliseconds, in order. */
  advance(ms: number): Promise<void>
  /**
   * Run timers in order until `done()` is true (checked after each step) or
   * `maxMs` of virtual time has passed. Returns whether `done()` became true.
   */
  runUntil(done: () => boolean, maxMs: number): Promise<boolean>
  /** Number of timers pending. */
  pending(): number
}

export interface VirtualClockOptions {
  /** Virtual time at the start, ms since the epoch. */
  startMs?: number
  /**
   * `timer` (the default): one timer per step, in (due time, scheduling order), with promise
   * chains settled after each; exact, for tests.
   * `instant`: one step runs every timer due at the same instant (those it schedules for that
   * instant run in the next step), then settles once. With thousands of nodes this is what
   * keeps a run in minutes (settling after every timer costs an event-loop turn per timer). A
   * timer that throws is logged, not rethrown, so that it cannot stop the others of its instant.
   */
  step?: 'timer' | 'instant'
  /**
   * Above 0 (with `step: 'instant'`): due times are rounded up to a multiple of `quantumMs`, so
   * that more timers share an instant; the price is an ordering error of at most one quantum.
   */
  quantumMs?: number
}

interface VirtualTimer {
  id: number
  at: number
  seq: number
  fn: () => void
}

const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A binary min-heap of timers ordered by (at, seq). */
function timerHeap(): {
  push(t: VirtualTimer): void
  pop(): VirtualTimer | undefined
  peek(): VirtualTimer | undefined
} {
  const heap: VirtualTimer[] = []
  const less = (a: VirtualTimer, b: VirtualTimer): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq)
  return {
    push(t) {
      heap.push(t)
      let i = heap.length - 1
      while (i > 0) {
        const p = (i - 1) >> 1
        if (!less(t, heap[p] as VirtualTimer)) break
        heap[i] = heap[p] as VirtualTimer
        i = p
      }
      heap[i] = t
    },
    pop() {
      const top = heap[0]
      const last = heap.pop()
      if (heap.length > 0 && last !== undefined) {
        let i = 0
        for (;;) {
          const l = 2 * i + 1
          const r = l + 1
          let m = i
          let mv = last
          if (l < heap.length && less(heap[l] as VirtualTimer, mv)) {
            m = l
            mv = heap[l] as VirtualTimer
          }
          if (r < heap.length && less(heap[r] as VirtualTimer, mv)) m = r
          if (m === i) break
          heap[i] = heap[m] as VirtualTimer
          i = m
        }
        heap[i] = last
      }
      return top
    },
    peek: () => heap[0],
  }
}

export function createVirtualClock(opts: VirtualClockOptions = {}): VirtualClock {
  const quantum = opts.quantumMs ?? 0
  const batch = opts.step === 'instant'
  if (!(quantum >= 0) || !Number.isFinite(quantum))
    throw new RangeError(`virtual clock quantumMs must be a finite number >= 0, got ${quantum}`)
  if (quantum > 0 && !batch) throw new RangeError("virtual clock quantumMs needs step: 'instant'")
  let now = opts.startMs ?? 1_700_000_000_000
  const start = now
  let nextId = 1
  let seq = 0
  const heap = timerHeap()
  const live = new Map<number, VirtualTimer>()
  const dueAt = (ms: number): number =>
    quantum === 0 ? now + ms : Math.max(Math.ceil((now + ms) / quantum) * quantum, start)
  const peekLive = (): VirtualTimer | undefined => {
    for (let t = heap.peek(); t !== undefined; t = heap.peek()) {
      if (live.has(t.id)) return t
      heap.pop()
    }
    return undefined
  }
  // Exact mode settles twice: promise chains scheduled from setImmediate callbacks get to run too.
  const settle = async (): Promise<void> => {
    await macrotask()
    if (!batch) await macrotask()
  }
  const run = (t: VirtualTimer): void => {
    if (!batch) {
      t.fn()
      return
    }
    try {
      t.fn()
    } catch (err) {
      console.error('virtual clock: timer callback failed', err)
    }
  }
  /** Run the next step within `limit`: one timer or one instant; false when none is due. */
  const step = async (limit: number): Promise<boolean> => {
    await settle()
    const first = peekLive()
    if (first === undefined || first.at > limit) return false
    if (first.at > now) now = first.at
    // the timers of this instant as they are now; timers they schedule for it run in the next step
    const due: VirtualTimer[] = []
    for (let t = peekLive(); t !== undefined && t.at === first.at; t = peekLive()) {
      heap.pop()
      live.delete(t.id)
      due.push(t)
      if (!batch) break
    }
    for (const t of due) run(t)
    return true
  }
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const t: VirtualTimer = { id: nextId++, at: dueAt(Math.max(0, ms)), seq: seq++, fn }
      live.set(t.id, t)
      heap.push(t)
      return { id: t.id }
    },
    clearTimeout(handle) {
      if (typeof handle === 'object' && handle !== null && 'id' in handle && typeof handle.id === 'number') {
        live.delete(handle.id)
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
    async runUntil(done, maxMs) {
      const limit = now + maxMs
      for (;;) {
        if (!batch) await settle()
        if (done()) return true
        if (!(await step(limit))) {
          await settle()
          if (done()) return true
          now = Math.max(now, limit)
          return false
        }
      }
    },
    pending: () => live.size,
  }
}
