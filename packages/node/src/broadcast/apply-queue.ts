/**
 * The apply pipeline: remote changesets (from gossip and sync) are queued and applied in
 * batches, many changesets per `engine.apply` call (one SQLite transaction), so a burst of
 * 100k changes is applied at SQLite speed rather than one transaction each.
 *
 * Bounded by count and bytes. Gossip pushes never wait: on overflow the oldest entries are
 * dropped and counted (anti-entropy sync repairs them). Sync pushes wait for room, which
 * propagates backpressure to the sync stream and to the serving node.
 *
 * A version the engine cannot apply here (a constraint its rows break, a table or column this
 * schema lacks) is refused by the engine alone, without failing the batch: it is counted, logged
 * once with its reason (`first`), and held back by the engine until its retry time, so no
 * changeset keeps the node retrying the same failure. If a whole batch fails (a failure of the
 * node: I/O, disk full, a lock), its changesets are applied one by one and those that still fail
 * are counted and dropped (sync brings them again).
 */
import type { Logger } from 'pino'
import type { ApplyResult, Changeset, StateEngine } from '@patina/core'
import type { ClusterClock, TimerHandle } from '../runtime/clock.js'
import type { ClusterMetrics } from '../runtime/metrics.js'
import { componentLogger } from '../runtime/log.js'

export interface ApplyQueueOptions {
  /** Most changesets waiting. */
  maxQueueChangesets: number
  /** Most encoded bytes waiting. */
  maxQueueBytes: number
  /** Most changesets per engine.apply call. */
  maxBatchChangesets: number
  /** Most encoded bytes per engine.apply call. */
  maxBatchBytes: number
  /** Wait this long after the first item before applying, to gather a larger batch (ms; 0 = at once). */
  batchDelayMs: number
}

export interface QueueItem {
  cs: Changeset
  /** Encoded size, bytes. */
  bytes: number
  source: 'gossip' | 'sync'
}

export interface ApplyQueue {
  /** Queue gossip changesets; drops the oldest entries when full. */
  push(items: QueueItem[]): void
  /** Queue sync changesets, waiting for room first. */
  pushWait(items: QueueItem[], signal?: AbortSignal): Promise<void>
  /** Resolves when nothing is queued or being applied. */
  drained(): Promise<void>
  size(): number
  /** p99 of commit lag (now − transaction timestamp) over recent applied changesets, seconds. */
  p99LagSec(): number
  /** Called with items dropped on overflow or refused by the engine. */
  onDrop(listener: (item: QueueItem) => void): () => void
  stop(): void
}

export interface ApplyQueueDeps {
  engine: StateEngine
  logger: Logger
  metrics: ClusterMetrics
  clock: ClusterClock
  /** Wall clock for lag, ms (transaction timestamps are wall-clock HLC). Default Date.now. */
  wallNow?: () => number
}

const LAG_SAMPLES = 1024
/** HLC ticks per millisecond (core `TICKS_PER_MS`). */
const TICKS_PER_MS = 1000

export function createApplyQueue(deps: ApplyQueueDeps, opts: ApplyQueueOptions): ApplyQueue {
  const { engine, metrics, clock } = deps
  const log = componentLogger(deps.logger, 'apply-queue')
  const wallNow = deps.wallNow ?? Date.now
  let items: QueueItem[] = []
  let head = 0
  let bytes = 0
  let running = false
  let stopped = false
  let timer: TimerHandle | null = null
  const roomWaiters: (() => void)[] = []
  const drainWaiters: (() => void)[] = []
  const dropListeners = new Set<(item: QueueItem) => void>()
  const lag = new Float64Array(LAG_SAMPLES)
  let lagCount = 0

  const size = (): number => items.length - head
  const compact = (): void => {
    if (head > 1024 && head * 2 > items.length) {
      items = items.slice(head)
      head = 0
    }
  }
  const dropped = (item: QueueItem): void => {
    for (const l of dropListeners) l(item)
  }
  const wakeRoom = (): void => {
    for (const w of roomWaiters.splice(0)) w()
  }
  let immediate = false
  const start = (): void => {
    run().catch((err: unknown) => log.error({ err }, 'apply loop failed'))
  }
  const schedule = (): void => {
    if (running || timer !== null || immediate || stopped || size() === 0) return
    if (opts.batchDelayMs > 0) {
      timer = clock.setTimeout(() => {
        timer = null
        start()
      }, opts.batchDelayMs)
      return
    }
    // No batching delay: apply after the messages read in this turn of the event loop, not
    // after a timer (a 0 ms timer waits at least 1 ms: on an idle node every remote write paid it).
    immediate = true
    setImmediate(() => {
      immediate = false
      if (!stopped) start()
    })
  }
  /** Between batches: let I/O in, then go on (setImmediate, not a ≥ 1 ms timer). */
  const yieldToIo = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve))

  const refused = (res: ApplyResult): void => {
    for (const r of res.refused) {
      metrics.applyErrors.inc()
      const fields = { actor: r.actorId, version: r.version, code: r.code, reason: r.reason }
      if (r.first) log.warn(fields, 'version refused: held back and retried later (see sync status)')
      else log.debug(fields, 'refused version failed again')
    }
  }

  const applyBatch = (batch: QueueItem[]): void => {
    const started = performance.now()
    try {
      refused(engine.apply(batch.map((i) => i.cs)))
    } catch (err) {
      log.warn({ err, size: batch.length }, 'batch apply failed; applying one by one')
      for (const item of batch) {
        try {
          refused(engine.apply([item.cs]))
        } catch (e) {
          metrics.applyErrors.inc()
          log.warn({ err: e, actor: item.cs.actorId, source: item.source }, 'changeset could not be applied')
          dropped(item)
        }
      }
    }
    try {
      metrics.applyRefusedVersions.set(engine.stats().refused)
    } catch {
      // the engine closed under us (stopping)
    }
    metrics.applyBatchSeconds.observe((performance.now() - started) / 1000)
    metrics.applyBatches.inc()
    metrics.applyChangesets.inc(batch.length)
    const now = wallNow()
    for (const item of batch) {
      if (item.cs.kind !== 'full') continue
      const lagMs = Math.max(0, now - item.cs.ts / TICKS_PER_MS)
      lag[lagCount++ % LAG_SAMPLES] = lagMs / 1000
      if (item.source === 'gossip') metrics.applyLagSeconds.observe(lagMs / 1000)
    }
  }

  const run = async (): Promise<void> => {
    if (running) return
    running = true
    try {
      while (!stopped && size() > 0) {
        const batch: QueueItem[] = []
        let batchBytes = 0
        while (head < items.length && batch.length < opts.maxBatchChangesets) {
          const next = items[head] as QueueItem
          if (batch.length > 0 && batchBytes + next.bytes > opts.maxBatchBytes) break
          batch.push(next)
          batchBytes += next.bytes
          head++
        }
        bytes -= batchBytes
        compact()
        metrics.applyQueueSize.set(size())
        applyBatch(batch)
        wakeRoom()
        // yield to I/O between batches
        if (size() > 0) await yieldToIo()
      }
    } finally {
      running = false
      metrics.applyQueueSize.set(size())
      if (size() === 0) for (const w of drainWaiters.splice(0)) w()
      else schedule()
    }
  }

  const enqueue = (list: QueueItem[]): void => {
    for (const item of list) {
      items.push(item)
      bytes += item.bytes
    }
    metrics.applyQueueSize.set(size())
    schedule()
  }

  return {
    push(list) {
      if (stopped || list.length === 0) return
      enqueue(list)
      while (size() > opts.maxQueueChangesets || (bytes > opts.maxQueueBytes && size() > 1)) {
        const oldest = items[head] as QueueItem
        head++
        bytes -= oldest.bytes
        metrics.applyQueueDropped.inc()
        dropped(oldest)
      }
      compact()
      metrics.applyQueueSize.set(size())
    },
    async pushWait(list, signal) {
      let listBytes = 0
      for (const i of list) listBytes += i.bytes
      while (
        !stopped &&
        size() > 0 &&
        (size() + list.length > opts.maxQueueChangesets || bytes + listBytes > opts.maxQueueBytes)
      ) {
        if (signal?.aborted === true) throw signal.reason as Error
        await new Promise<void>((resolve) => roomWaiters.push(resolve))
      }
      if (stopped) return
      enqueue(list)
    },
    drained() {
      if (size() === 0 && !running) return Promise.resolve()
      return new Promise((resolve) => drainWaiters.push(resolve))
    },
    size,
    p99LagSec() {
      const n = Math.min(lagCount, LAG_SAMPLES)
      if (n === 0) return 0
      const sorted = Array.from(lag.subarray(0, n)).sort((a, b) => a - b)
      return sorted[Math.min(n - 1, Math.floor(n * 0.99))] ?? 0
    },
    onDrop(listener) {
      dropListeners.add(listener)
      return () => dropListeners.delete(listener)
    },
    stop() {
      stopped = true
      if (timer !== null) clock.clearTimeout(timer)
      timer = null
      wakeRoom()
      for (const w of drainWaiters.splice(0)) w()
    },
  }
}
