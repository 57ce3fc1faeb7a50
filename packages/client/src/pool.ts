import type { MemberInfo } from '@patina/api'
import { isCutOff, UNKNOWN_FRESHNESS, type WorkerFreshness } from './freshness.js'
import {
  rankWorkers,
  smoothRtt,
  normalizeWorkerUrl,
  workerUrlsFromMembers,
  SWITCH_DEFAULTS,
  type SwitchPolicy,
  type WorkerStatus,
} from './workers.js'

/** Result of one health probe. */
export interface ProbeResult {
  /** The worker answered at all (any HTTP status). */
  reachable: boolean
  /** It answered 2xx. */
  ok: boolean
  /** Its reported p99 apply lag in milliseconds, when it sent one. */
  p99LagMs: number | null
  /** How current it says it is (absent or unknown fields: {@link UNKNOWN_FRESHNESS}). */
  freshness?: WorkerFreshness
}

/** The I/O the pool needs; the client supplies it (tests can fake it). */
export interface Prober {
  health(url: string, timeoutMs: number): Promise<ProbeResult>
  members(url: string, timeoutMs: number): Promise<MemberInfo[]>
}

export interface PoolClock {
  /** Wall clock in milliseconds. */
  now(): number
  /** Monotonic clock in milliseconds (RTT measurement). */
  monotonicMs(): number
}

export interface WorkerPoolOptions {
  /** Worker base URLs, most preferred first (until probes measure otherwise). */
  workers: string[]
  /** Also use workers found through `GET /v1/cluster/members`. */
  discover: boolean
  /** Time between health probes of every worker, in milliseconds, while the pool is in use. */
  probeIntervalMs: number
  /** Health probe timeout in milliseconds. */
  probeTimeoutMs: number
  /** Consecutive failed probes before a worker counts as down. */
  downAfterProbeFailures: number
  /** Time between membership discoveries, in milliseconds (when `discover`). */
  discoveryIntervalMs: number
  /** Hysteresis for moving a subscription to a better worker. */
  switchPolicy: SwitchPolicy
  /** A worker that has not heard from another member for longer than this (ms) counts as cut off (`isolated`). */
  maxContactMs: number
}

export const POOL_DEFAULTS: Omit<WorkerPoolOptions, 'workers'> = Object.freeze({
  discover: false,
  probeIntervalMs: 2_000,
  probeTimeoutMs: 2_000,
  downAfterProbeFailures: 2,
  discoveryIntervalMs: 10_000,
  switchPolicy: SWITCH_DEFAULTS,
  maxContactMs: 10_000,
})

/** The set of workers a client talks to, ranked by health and measured RTT. */
export interface WorkerPool {
  readonly options: Readonly<WorkerPoolOptions>
  /** All workers, best first (copies). */
  list(): WorkerStatus[]
  get(url: string): WorkerStatus | undefined
  /** The most preferred worker (a down one only when all are down), or undefined when there are none. */
  best(): WorkerStatus | undefined
  /** Records a failure seen by a caller (e.g. a subscription that could not reconnect): the worker counts as down until a probe succeeds. */
  markDown(url: string): void
  /** Probes every worker once (and discovers, when due). Concurrent calls share one round. */
  probeNow(): Promise<void>
  /** Probes these workers now (not a round: no discovery, no listeners called). Unknown URLs are skipped. */
  probe(urls: readonly string[]): Promise<void>
  /** Starts periodic probing until the returned release function is called (reference counted). */
  acquire(): () => void
  /** Called after every probe round. Returns an unsubscribe function. */
  onProbe(listener: () => void): () => void
  /** Stops probing. */
  close(): void
}

export function createWorkerPool(
  deps: { prober: Prober; clock: PoolClock; onError?: (err: unknown) => void },
  opts: WorkerPoolOptions,
): WorkerPool {
  const workers = new Map<string, WorkerStatus>()
  let order = 0
  const add = (url: string, source: WorkerStatus['source']): void => {
    const u = normalizeWorkerUrl(url)
    if (workers.has(u)) return
    workers.set(u, {
      url: u,
      source,
      order: order++,
      state: 'unknown',
      rttMs: null,
      p99LagMs: null,
      freshness: UNKNOWN_FRESHNESS,
      reportedAt: null,
      failures: 0,
      lastProbeAt: null,
      lastFailureAt: null,
    })
  }
  for (const w of opts.workers) add(w, 'static')

  const listeners = new Set<() => void>()
  let holders = 0
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let lastDiscoveryAt: number | null = null
  let closed = false

  const fail = (w: WorkerStatus, threshold: number): void => {
    w.failures++
    w.lastFailureAt = deps.clock.now()
    if (w.failures >= threshold) w.state = 'down'
  }

  const probeOne = async (w: WorkerStatus): Promise<void> => {
    // The time the probe is sent: ages reported in the answer count from here, so that an
    // estimate from them is never below the truth (see `contactAgeMs`).
    const sentAt = deps.clock.now()
    const t0 = deps.clock.monotonicMs()
    let r: ProbeResult
    try {
      r = await deps.prober.health(w.url, opts.probeTimeoutMs)
    } catch {
      r = { reachable: false, ok: false, p99LagMs: null }
    }
    const now = deps.clock.now()
    w.lastProbeAt = now
    if (!r.reachable) {
      fail(w, opts.downAfterProbeFailures)
      return
    }
    w.rttMs = smoothRtt(w.state === 'down' ? null : w.rttMs, deps.clock.monotonicMs() - t0)
    w.failures = 0
    w.freshness = r.freshness ?? UNKNOWN_FRESHNESS
    w.reportedAt = sentAt
    w.state = isCutOff(w.freshness, sentAt, now, opts.maxContactMs)
      ? 'isolated'
      : r.ok
        ? 'healthy'
        : 'unhealthy'
    w.p99LagMs = r.p99LagMs
  }

  const discover = async (): Promise<void> => {
    const now = deps.clock.now()
    if (lastDiscoveryAt !== null && now - lastDiscoveryAt < opts.discoveryIntervalMs) return
    for (const w of rankWorkers([...workers.values()])) {
      if (w.state === 'down') continue
      try {
        const members = await deps.prober.members(w.url, opts.probeTimeoutMs)
        lastDiscoveryAt = now
        const found = new Set(workerUrlsFromMembers(members, w.url))
        for (const u of found) add(u, 'discovered')
        // forget discovered workers the cluster no longer lists; configured ones stay
        for (const [u, s] of workers) if (s.source === 'discovered' && !found.has(u)) workers.delete(u)
        return
      } catch (err) {
        deps.onError?.(err)
      }
    }
  }

  const round = async (): Promise<void> => {
    if (opts.discover) await discover()
    await Promise.all([...workers.values()].map(probeOne))
    if (opts.discover && lastDiscoveryAt === null) {
      await discover()
      await Promise.all([...workers.values()].filter((w) => w.state === 'unknown').map(probeOne))
    }
    for (const l of [...listeners]) {
      try {
        l()
      } catch (err) {
        deps.onError?.(err)
      }
    }
  }

  const probeNow = (): Promise<void> => {
    if (running) return running
    running = round().finally(() => {
      running = undefined
    })
    return running
  }

  const schedule = (): void => {
    if (closed || holders === 0 || timer !== undefined) return
    timer = setTimeout(() => {
      timer = undefined
      void probeNow().finally(schedule)
    }, opts.probeIntervalMs)
    timer.unref?.()
  }

  return {
    options: opts,
    list: () => rankWorkers([...workers.values()]).map((w) => ({ ...w })),
    get: (url) => {
      const w = workers.get(url)
      return w === undefined ? undefined : { ...w }
    },
    best: () => {
      const r = rankWorkers([...workers.values()])[0]
      return r === undefined ? undefined : { ...r }
    },
    markDown(url) {
      const w = workers.get(url)
      if (!w) return
      w.failures = Math.max(w.failures + 1, opts.downAfterProbeFailures)
      w.lastFailureAt = deps.clock.now()
      w.state = 'down'
    },
    probeNow,
    async probe(urls) {
      const ws = urls.map((u) => workers.get(u)).filter((w): w is WorkerStatus => w !== undefined)
      await Promise.all(ws.map(probeOne))
    },
    acquire() {
      holders++
      schedule()
      let released = false
      return () => {
        if (released) return
        released = true
        holders--
        if (holders === 0 && timer !== undefined) {
          clearTimeout(timer)
          timer = undefined
        }
      }
    },
    onProbe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    close() {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      listeners.clear()
    },
  }
}
