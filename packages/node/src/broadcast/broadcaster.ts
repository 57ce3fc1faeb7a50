/**
 * Broadcast of changesets on the cluster's changes topic.
 *
 * Out: local changesets (already chunked by seq range by the engine) are encoded and
 * published at once when the node is quiet, or coalesced into batches bounded by time and
 * bytes under a high write rate (`batch.ts`). Messages stay under `maxMessageBytes`.
 *
 * In: each message is checked (envelope: size, version, cluster, kind), each changeset is
 * decoded and validated by the core codec, duplicates are dropped through a seen cache
 * (actor + version + seq range), and the rest goes to the apply queue. We never re-publish
 * remote changes: gossipsub forwards them.
 */
import type { Logger } from 'pino'
import { decodeChangeset, encodeChangeset, type Changeset } from '@patina/core'
import type { TopicMessage, Transport } from '../transport/transport.js'
import type { ClusterClock, TimerHandle } from '../runtime/clock.js'
import type { ClusterMetrics } from '../runtime/metrics.js'
import {
  MessageKind,
  MessageRejectedError,
  decodeEnvelope,
  encodeEnvelope,
  expectBinArray,
} from '../wire/envelope.js'
import { flushDelayMs, packGroups } from './batch.js'
import { changesetKey, createSeenCache } from './seen.js'
import type { ApplyQueue } from './apply-queue.js'
import { componentLogger } from '../runtime/log.js'

export const changesTopic = (clusterId: string): string => `/patina/${clusterId}/changes/1`

/** Bytes reserved for the envelope around the changesets of one message. */
const ENVELOPE_OVERHEAD_BYTES = 256

export interface BroadcastOptions {
  clusterId: string
  /** Largest changes message published or accepted, bytes. */
  maxMessageBytes: number
  /** Most changesets in one message. */
  maxChangesetsPerMessage: number
  /** Pending bytes that force a publication, bytes. */
  maxBatchBytes: number
  /** Longest a local changeset waits while writes keep coming, ms (0 = never coalesce). */
  maxBatchDelayMs: number
  /** Changeset chunks remembered for duplicate detection. */
  seenCacheSize: number
  /**
   * How long changesets from a publisher the membership table does not know yet are held
   * before sync is left to repair them, ms (a joining node is usually known within a second).
   */
  unknownPublisherHoldMs: number
}

export interface BroadcasterDeps {
  transport: Transport
  engine: { readonly actorId: string }
  queue: ApplyQueue
  logger: Logger
  metrics: ClusterMetrics
  clock: ClusterClock
  /**
   * The actor a gossip publisher speaks for (from the membership table). A node publishes
   * only its own changes and gossipsub authenticates the publisher, so a changeset whose
   * actor is not the publisher's is refused: a peer cannot impersonate another actor over
   * gossip. Changes from a publisher not yet in the table (a node that just joined) are held,
   * bounded in count and time, until the table knows it.
   */
  actorOfPeer?: (peerId: string) => string | undefined
}

/** Changesets held in all while their publishers are unknown to the membership table. */
const HOLD_MAX_CHANGESETS = 4096
/** How often held changesets are checked against the membership table, ms. */
const HOLD_RECHECK_MS = 250

export interface Broadcaster {
  start(): void
  /** Publish what is pending and stop. */
  stop(): Promise<void>
  /** Publish local changesets (coalesced under load). */
  publishLocal(changesets: readonly Changeset[]): void
  /** Publish whatever is pending now. */
  flush(): Promise<void>
}

export function createBroadcaster(deps: BroadcasterDeps, opts: BroadcastOptions): Broadcaster {
  const { transport, queue, metrics, clock } = deps
  const log = componentLogger(deps.logger, 'broadcast')
  const topic = changesTopic(opts.clusterId)
  const seen = createSeenCache(opts.seenCacheSize)
  let pending: Uint8Array[] = []
  let pendingBytes = 0
  let lastFlushAtMs = -Infinity
  let timer: TimerHandle | null = null
  let chain: Promise<void> = Promise.resolve()
  let running = false
  const unsubs: (() => void)[] = []

  const flush = (): Promise<void> => {
    if (timer !== null) clock.clearTimeout(timer)
    timer = null
    if (pending.length === 0) return chain
    const items = pending
    pending = []
    pendingBytes = 0
    lastFlushAtMs = clock.now()
    const groups = packGroups(
      items.map((b) => b.byteLength),
      opts.maxMessageBytes - ENVELOPE_OVERHEAD_BYTES,
      opts.maxChangesetsPerMessage,
    )
    chain = chain.then(async () => {
      for (const g of groups) {
        const body = g.map((i) => items[i] as Uint8Array)
        const bytes = encodeEnvelope(opts.clusterId, MessageKind.Changes, body)
        try {
          await transport.publish(topic, bytes)
          metrics.messagesPublished.inc({ topic: 'changes' })
          metrics.bytesPublished.inc({ topic: 'changes' }, bytes.byteLength)
          metrics.broadcastBatches.inc()
          metrics.broadcastChangesets.inc(body.length)
        } catch (err) {
          // sync repairs what gossip misses
          log.debug({ err }, 'publish failed')
        }
      }
    })
    return chain
  }

  const plan = (): void => {
    const wait = flushDelayMs({ pendingBytes, pendingCount: pending.length, lastFlushAtMs }, clock.now(), {
      maxBatchBytes: opts.maxBatchBytes,
      maxBatchDelayMs: opts.maxBatchDelayMs,
    })
    if (wait === null) return
    if (wait === 0) {
      void flush()
      return
    }
    if (timer === null) {
      timer = clock.setTimeout(() => {
        timer = null
        plan()
      }, wait)
    }
  }

  // Changesets from publishers the membership table does not know yet, per publisher; they are
  // checked again every HOLD_RECHECK_MS and dropped (sync repairs) after `unknownPublisherHoldMs` or beyond
  // HOLD_MAX_CHANGESETS in all.
  const held = new Map<string, { items: { cs: Changeset; bytes: number }[]; sinceMs: number }>()
  let heldCount = 0
  let holdTimer: TimerHandle | null = null
  const hold = (peer: string, cs: Changeset, bytes: number): void => {
    if (heldCount >= HOLD_MAX_CHANGESETS) {
      metrics.messagesRejected.inc({ channel: 'changes', reason: 'unknown_publisher' })
      return
    }
    let h = held.get(peer)
    if (h === undefined) held.set(peer, (h = { items: [], sinceMs: clock.now() }))
    h.items.push({ cs, bytes })
    heldCount++
    if (holdTimer === null) holdTimer = clock.setTimeout(recheckHeld, HOLD_RECHECK_MS)
  }
  const recheckHeld = (): void => {
    holdTimer = null
    if (!running) return
    const now = clock.now()
    const accepted = []
    for (const [peer, h] of held) {
      const owner = deps.actorOfPeer?.(peer)
      if (owner === undefined) {
        if (now - h.sinceMs > opts.unknownPublisherHoldMs) {
          held.delete(peer)
          heldCount -= h.items.length
          metrics.messagesRejected.inc({ channel: 'changes', reason: 'unknown_publisher' }, h.items.length)
        }
        continue
      }
      held.delete(peer)
      heldCount -= h.items.length
      for (const it of h.items) {
        if (it.cs.actorId !== owner) {
          metrics.messagesRejected.inc({ channel: 'changes', reason: 'actor_not_publisher' })
          continue
        }
        if (!seen.add(changesetKey(it.cs))) {
          metrics.changesetsDuplicate.inc({ source: 'gossip' })
          continue
        }
        accepted.push({ cs: it.cs, bytes: it.bytes, source: 'gossip' as const })
      }
    }
    if (accepted.length > 0) queue.push(accepted)
    if (held.size > 0) holdTimer = clock.setTimeout(recheckHeld, HOLD_RECHECK_MS)
  }

  const onMessage = (msg: TopicMessage): void => {
    if (msg.topic !== topic || !running) return
    metrics.messagesReceived.inc({ topic: 'changes' })
    let bins: Uint8Array[]
    try {
      const env = decodeEnvelope(msg.data, {
        clusterId: opts.clusterId,
        maxBytes: opts.maxMessageBytes,
        expectKinds: [MessageKind.Changes],
      })
      bins = expectBinArray(env.body, opts.maxChangesetsPerMessage, 'changes')
    } catch (err) {
      const reason = err instanceof MessageRejectedError ? err.reason : 'malformed'
      metrics.messagesRejected.inc({ channel: 'changes', reason })
      log.debug({ from: msg.from, reason, err: (err as Error).message }, 'refused a changes message')
      return
    }
    const accepted = []
    for (const bin of bins) {
      let cs: Changeset
      try {
        cs = decodeChangeset(bin, { maxBytes: opts.maxMessageBytes })
      } catch (err) {
        metrics.changesetsInvalid.inc({ source: 'gossip' })
        log.debug({ from: msg.from, err: (err as Error).message }, 'refused a changeset')
        continue
      }
      metrics.changesetsReceived.inc({ source: 'gossip' })
      if (deps.actorOfPeer !== undefined) {
        const owner = deps.actorOfPeer(msg.from)
        if (owner === undefined) {
          hold(msg.from, cs, bin.byteLength)
          continue
        }
        if (owner !== cs.actorId) {
          metrics.messagesRejected.inc({ channel: 'changes', reason: 'actor_not_publisher' })
          log.debug({ from: msg.from, actor: cs.actorId }, 'refused a changeset not published by its actor')
          continue
        }
      }
      if (cs.actorId === deps.engine.actorId || !seen.add(changesetKey(cs))) {
        metrics.changesetsDuplicate.inc({ source: 'gossip' })
        continue
      }
      accepted.push({ cs, bytes: bin.byteLength, source: 'gossip' as const })
    }
    queue.push(accepted)
  }

  return {
    start() {
      if (running) return
      running = true
      transport.subscribe(topic)
      unsubs.push(transport.onMessage(onMessage))
      // a dropped or refused changeset may come again (from sync or a re-publication)
      unsubs.push(queue.onDrop((item) => seen.delete(changesetKey(item.cs))))
    },
    async stop() {
      if (!running) return
      await flush()
      running = false
      if (holdTimer !== null) clock.clearTimeout(holdTimer)
      holdTimer = null
      held.clear()
      heldCount = 0
      for (const u of unsubs.splice(0)) u()
    },
    publishLocal(changesets) {
      if (!running) return
      for (const cs of changesets) {
        const bytes = encodeChangeset(cs)
        pending.push(bytes)
        pendingBytes += bytes.byteLength
      }
      plan()
    },
    flush,
  }
}
