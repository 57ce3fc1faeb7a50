/**
 * One end of a stream of the in-memory network (`memory.ts`): reliable and ordered (each frame
 * delayed by the link model, FIFO kept), with a bounded number of unread frames per direction
 * (backpressure), delivered to a paused receiver only once it runs again.
 */
import { PatinaError } from '@patina/api'
import type { FramedStream } from './transport.js'
import type { ClusterClock } from '../runtime/clock.js'
import type { Hop } from './link-model.js'
import type { Pauses } from './memory-pause.js'

export interface StreamContext {
  clock: ClusterClock
  pauses: Pauses
  stats: { streamFrames: number; streamBytes: number }
  /** Unread frames per direction before `send` waits. */
  highWater: number
  reachable(a: string, b: string): boolean
  /** The delay of one frame (never lost). */
  delay(hop: Hop): number
}

/** The transport an end belongs to: its open streams. */
export interface StreamOwner {
  readonly peerId: string
  readonly streams: Set<MemoryStreamEnd>
}

const closedError = (what: string): PatinaError => new PatinaError('PATINA_ERR_CLOSED', what)

/** Opens a pair of connected ends, registered with their owners. */
export function memoryStreams(ctx: StreamContext): {
  open(local: StreamOwner, remote: StreamOwner, protocol: string): [MemoryStreamEnd, MemoryStreamEnd]
} {
  return {
    open(local, remote, protocol) {
      const a = new MemoryStreamEnd(ctx, local, remote.peerId, protocol)
      const b = new MemoryStreamEnd(ctx, remote, local.peerId, protocol)
      a.peer = b
      b.peer = a
      local.streams.add(a)
      remote.streams.add(b)
      return [a, b]
    },
  }
}

export class MemoryStreamEnd implements FramedStream {
  peer!: MemoryStreamEnd
  readonly inbox: Uint8Array[] = []
  /** frames sent by us not yet read by the peer */
  unread = 0
  remoteEnded = false
  writeClosed = false
  error: Error | null = null
  private readerWake: (() => void) | null = null
  private senderWake: (() => void) | null = null
  private lastDeliverAt = 0
  constructor(
    private readonly ctx: StreamContext,
    readonly owner: StreamOwner,
    readonly remotePeer: string,
    readonly protocol: string,
  ) {}

  wakeReader(): void {
    const w = this.readerWake
    this.readerWake = null
    w?.()
  }
  wakeSender(): void {
    const w = this.senderWake
    this.senderWake = null
    w?.()
  }
  /** Schedule `fn` on the peer after a delay, keeping FIFO order. */
  private deliver(fn: () => void): void {
    const hop: Hop = { kind: 'frame', from: this.owner.peerId, to: this.remotePeer }
    const at = Math.max(this.ctx.clock.now() + this.ctx.delay(hop), this.lastDeliverAt)
    this.lastDeliverAt = at
    this.ctx.clock.setTimeout(fn, at - this.ctx.clock.now())
  }
  async send(frame: Uint8Array): Promise<void> {
    while (this.error === null && !this.writeClosed && this.unread >= this.ctx.highWater) {
      await new Promise<void>((resolve) => {
        this.senderWake = resolve
      })
    }
    if (this.error !== null) throw this.error
    if (this.writeClosed)
      throw closedError(`stream ${this.protocol} to ${this.remotePeer} is closed for writing`)
    if (!this.ctx.reachable(this.owner.peerId, this.remotePeer)) {
      const err = closedError(`stream ${this.protocol} to ${this.remotePeer}: peer unreachable`)
      this.abort(err)
      throw err
    }
    this.unread++
    const copy = frame.slice()
    this.deliver(() =>
      this.ctx.pauses.whenAwake(this.remotePeer, () => {
        if (this.peer.error !== null) return
        this.ctx.stats.streamFrames++
        this.ctx.stats.streamBytes += copy.byteLength
        this.peer.inbox.push(copy)
        this.peer.wakeReader()
      }),
    )
  }
  async *frames(): AsyncIterable<Uint8Array> {
    for (;;) {
      if (this.error !== null) throw this.error
      const next = this.inbox.shift()
      if (next !== undefined) {
        this.peer.unread--
        this.peer.wakeSender()
        yield next
        continue
      }
      if (this.remoteEnded) return
      await new Promise<void>((resolve) => {
        this.readerWake = resolve
      })
    }
  }
  async close(): Promise<void> {
    if (this.writeClosed || this.error !== null) return
    this.writeClosed = true
    this.wakeSender()
    this.deliver(() =>
      this.ctx.pauses.whenAwake(this.remotePeer, () => {
        this.peer.remoteEnded = true
        this.peer.wakeReader()
      }),
    )
    this.maybeForget()
  }
  abort(reason?: Error): void {
    const err = reason ?? closedError(`stream ${this.protocol} with ${this.remotePeer} aborted`)
    for (const end of [this, this.peer]) {
      if (end.error !== null) continue
      end.error = err
      end.wakeReader()
      end.wakeSender()
      end.owner.streams.delete(end)
    }
  }
  maybeForget(): void {
    if (this.writeClosed && this.peer.writeClosed) {
      this.owner.streams.delete(this)
      this.peer.owner.streams.delete(this.peer)
    }
  }
}
