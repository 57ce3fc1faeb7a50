/**
 * The anti-entropy exchange, protocol `/patina/sync/1` over a transport stream:
 *
 *     client → server  SyncRequest  bin(encodeSyncState(client.syncState()))
 *     server → client  SyncChanges  [bin(encodeChangeset(cs)), ...]   (0..n frames, each ≤ maxFrameBytes)
 *     server → client  SyncEnd      { changesets: n }
 *   or
 *     server → client  SyncReject   { reason: 'busy' | 'cluster' | 'invalid' | 'stopping' }
 *
 * The server walks `engine.changesFor(clientState)` lazily (the engine pages its reads, so
 * nothing stays open across awaits) and awaits each frame's send, so its memory is one
 * frame plus the transport's buffers whatever the backlog. The client hands changesets to
 * the apply queue with `pushWait`, which stops reading the stream while the queue is full.
 */
import type { Logger } from 'pino'
import {
  decodeChangeset,
  decodeSyncState,
  encodeChangeset,
  encodeSyncState,
  type StateEngine,
} from '@patina/core'
import type { FramedStream, Transport } from '../transport/transport.js'
import type { ClusterClock } from '../runtime/clock.js'
import type { ClusterMetrics } from '../runtime/metrics.js'
import {
  MessageKind,
  MessageRejectedError,
  decodeEnvelope,
  encodeEnvelope,
  expectBinArray,
  expectRecord,
} from '../wire/envelope.js'
import type { ApplyQueue, QueueItem } from '../broadcast/apply-queue.js'
import { componentLogger } from '../runtime/log.js'

export const SYNC_PROTOCOL = '/patina/sync/1'

export interface SyncSessionOptions {
  clusterId: string
  /** Largest frame sent or accepted on the sync stream, bytes. */
  maxFrameBytes: number
  /** Target size of one changeset chunk served, bytes (engine `maxChunkBytes`). */
  maxChunkBytes: number
  /** Most changesets in one frame. */
  maxChangesetsPerFrame: number
  /** Sessions served at once; more are rejected as busy. */
  maxConcurrentServe: number
  /** Longest a session may last, ms (both sides abort after it). */
  sessionTimeoutMs: number
  /** Longest wait for the client's request or the server's next frame, ms. */
  idleTimeoutMs: number
}

export interface SyncDeps {
  engine: StateEngine
  transport: Transport
  queue: ApplyQueue
  logger: Logger
  metrics: ClusterMetrics
  clock: ClusterClock
}

export type SyncResult =
  | { peer: string; outcome: 'ok'; changesets: number }
  | { peer: string; outcome: 'rejected'; reason: string }
  | { peer: string; outcome: 'failed'; error: string }

/** Iterates `stream.frames()` with a per-frame idle timeout and an overall deadline. */
async function* timedFrames(
  stream: FramedStream,
  clock: ClusterClock,
  idleMs: number,
  deadlineMs: number,
): AsyncGenerator<Uint8Array> {
  const it = stream.frames()[Symbol.asyncIterator]()
  for (;;) {
    const wait = Math.min(idleMs, deadlineMs - clock.now())
    if (wait <= 0) throw new Error('sync session deadline passed')
    let handle: ReturnType<ClusterClock['setTimeout']> | undefined
    const timeout = new Promise<never>((_, reject) => {
      handle = clock.setTimeout(() => reject(new Error(`no sync frame within ${wait} ms`)), wait)
    })
    try {
      const next = await Promise.race([it.next(), timeout])
      if (next.done === true) return
      yield next.value
    } finally {
      if (handle !== undefined) clock.clearTimeout(handle)
    }
  }
}

export interface SyncServer {
  /** Sessions being served now. */
  active(): number
  handle(stream: FramedStream): Promise<void>
  stop(): void
}

export function createSyncServer(deps: SyncDeps, opts: SyncSessionOptions): SyncServer {
  const { engine, metrics, clock } = deps
  const log = componentLogger(deps.logger, 'sync-server')
  let active = 0
  let stopping = false

  const reject = async (stream: FramedStream, reason: string): Promise<void> => {
    metrics.syncSessions.inc({ role: 'server', result: `rejected_${reason}` })
    try {
      await stream.send(encodeEnvelope(opts.clusterId, MessageKind.SyncReject, { reason }))
      await stream.close()
    } catch {
      stream.abort()
    }
  }

  return {
    active: () => active,
    stop() {
      stopping = true
    },
    async handle(stream) {
      const deadline = clock.now() + opts.sessionTimeoutMs
      let request: Uint8Array | undefined
      try {
        for await (const f of timedFrames(stream, clock, opts.idleTimeoutMs, deadline)) {
          request = f
          break
        }
      } catch (err) {
        metrics.syncSessions.inc({ role: 'server', result: 'failed' })
        log.debug({ peer: stream.remotePeer, err: (err as Error).message }, 'no sync request')
        stream.abort()
        return
      }
      if (request === undefined) return stream.abort()
      let theirs
      try {
        const env = decodeEnvelope(request, {
          clusterId: opts.clusterId,
          maxBytes: opts.maxFrameBytes,
          expectKinds: [MessageKind.SyncRequest],
        })
        if (!(env.body instanceof Uint8Array))
          throw new MessageRejectedError('malformed', 'sync request body is not binary')
        theirs = decodeSyncState(env.body, opts.maxFrameBytes)
      } catch (err) {
        const reason = err instanceof MessageRejectedError ? err.reason : 'malformed'
        metrics.messagesRejected.inc({ channel: 'sync', reason })
        log.debug({ peer: stream.remotePeer, reason, err: (err as Error).message }, 'refused a sync request')
        return reject(stream, reason === 'wrong_cluster' ? 'cluster' : 'invalid')
      }
      if (stopping) return reject(stream, 'stopping')
      if (active >= opts.maxConcurrentServe) return reject(stream, 'busy')
      active++
      let sent = 0
      try {
        let frame: Uint8Array[] = []
        let frameBytes = 0
        const flush = async (): Promise<void> => {
          if (frame.length === 0) return
          if (clock.now() > deadline) throw new Error('sync session deadline passed')
          await stream.send(encodeEnvelope(opts.clusterId, MessageKind.SyncChanges, frame))
          frame = []
          frameBytes = 0
        }
        for (const cs of engine.changesFor(theirs, { maxChunkBytes: opts.maxChunkBytes })) {
          if (stopping) throw new Error('server stopping')
          const bin = encodeChangeset(cs)
          if (
            frame.length > 0 &&
            (frameBytes + bin.byteLength > opts.maxFrameBytes - 1024 ||
              frame.length >= opts.maxChangesetsPerFrame)
          ) {
            await flush()
          }
          frame.push(bin)
          frameBytes += bin.byteLength
          sent++
        }
        await flush()
        await stream.send(encodeEnvelope(opts.clusterId, MessageKind.SyncEnd, { changesets: sent }))
        await stream.close()
        metrics.syncSessions.inc({ role: 'server', result: 'ok' })
        metrics.syncChangesetsSent.inc(sent)
        if (sent > 0) log.debug({ peer: stream.remotePeer, changesets: sent }, 'served sync')
      } catch (err) {
        metrics.syncSessions.inc({ role: 'server', result: 'failed' })
        metrics.syncChangesetsSent.inc(sent)
        log.debug({ peer: stream.remotePeer, err: (err as Error).message, sent }, 'sync serving failed')
        stream.abort()
      } finally {
        active--
      }
    },
  }
}

/** Runs one sync session as client against `peer`. Never throws. */
export async function syncWith(
  deps: SyncDeps,
  opts: SyncSessionOptions,
  peer: string,
  signal?: AbortSignal,
): Promise<SyncResult> {
  const { engine, transport, queue, metrics, clock } = deps
  const log = componentLogger(deps.logger, 'sync-client')
  const deadline = clock.now() + opts.sessionTimeoutMs
  let stream: FramedStream | undefined
  let received = 0
  try {
    stream = await transport.openStream(peer, SYNC_PROTOCOL, signal !== undefined ? { signal } : {})
    await stream.send(
      encodeEnvelope(opts.clusterId, MessageKind.SyncRequest, encodeSyncState(engine.syncState())),
    )
    for await (const frame of timedFrames(stream, clock, opts.idleTimeoutMs, deadline)) {
      if (signal?.aborted === true) throw new Error('sync aborted')
      let env
      try {
        env = decodeEnvelope(frame, {
          clusterId: opts.clusterId,
          maxBytes: opts.maxFrameBytes,
          expectKinds: [MessageKind.SyncChanges, MessageKind.SyncEnd, MessageKind.SyncReject],
        })
      } catch (err) {
        const reason = err instanceof MessageRejectedError ? err.reason : 'malformed'
        metrics.messagesRejected.inc({ channel: 'sync', reason })
        throw err
      }
      if (env.kind === MessageKind.SyncReject) {
        const reason = String(expectRecord(env.body, 'sync reject')['reason'] ?? 'unknown').slice(0, 64)
        metrics.syncSessions.inc({ role: 'client', result: `rejected_${reason}` })
        await stream.close()
        stream.abort()
        return { peer, outcome: 'rejected', reason }
      }
      if (env.kind === MessageKind.SyncEnd) {
        await stream.close()
        metrics.syncSessions.inc({ role: 'client', result: 'ok' })
        if (received > 0) log.debug({ peer, changesets: received }, 'sync received changes')
        return { peer, outcome: 'ok', changesets: received }
      }
      const bins = expectBinArray(env.body, opts.maxChangesetsPerFrame, 'sync changes')
      const items: QueueItem[] = []
      for (const bin of bins) {
        try {
          items.push({
            cs: decodeChangeset(bin, { maxBytes: opts.maxFrameBytes }),
            bytes: bin.byteLength,
            source: 'sync',
          })
        } catch (err) {
          metrics.changesetsInvalid.inc({ source: 'sync' })
          log.debug({ peer, err: (err as Error).message }, 'refused a synced changeset')
        }
      }
      received += items.length
      metrics.changesetsReceived.inc({ source: 'sync' }, items.length)
      await queue.pushWait(items, signal)
    }
    throw new Error('sync stream ended without an end marker')
  } catch (err) {
    stream?.abort()
    metrics.syncSessions.inc({ role: 'client', result: 'failed' })
    return { peer, outcome: 'failed', error: (err as Error).message }
  }
}
