import { PassThrough } from 'node:stream'
import type { EventSink } from '../subs/sink.js'
import { lines } from '../wire/json.js'

/**
 * An NDJSON response body with a bounded buffer.
 *
 * Lines from a *source* (a snapshot, a replay, query rows) are written with backpressure:
 * the producer waits for `drain`. Live lines (subscription changes) are pushed with
 * {@link NdjsonSink.write}, never wait, and queue behind an active source. When the bytes
 * held for the client (queued + unread in the stream) exceed `maxBufferBytes`, the sink
 * writes one `error` line and ends: a slow client never slows anyone else down and never
 * holds unbounded memory. The error is fatal for the client, which resumes with `from`.
 */
export interface NdjsonSink extends EventSink {
  /** The body to hand to `reply.send`. */
  readonly stream: PassThrough
}

export interface NdjsonSinkOptions {
  maxBufferBytes: number
  /** Message of the `error` event sent on overflow. */
  overflowMessage?: string
}

/** Characters of source lines gathered into one write. */
const SOURCE_PIECE_CHARS = 64 * 1024

export function createNdjsonSink(opts: NdjsonSinkOptions): NdjsonSink {
  const stream = new PassThrough()
  let closed = false
  let sourceActive = false
  const queue: string[] = []
  let queuedBytes = 0
  const closeCbs: (() => void)[] = []

  const onClosed = (): void => {
    if (closed) return
    closed = true
    queue.length = 0
    queuedBytes = 0
    for (const cb of closeCbs.splice(0)) cb()
  }
  stream.once('close', onClosed)
  stream.once('error', onClosed)

  /** Bytes written but not yet taken by the client (both sides of the PassThrough). */
  const held = (): number => stream.writableLength + stream.readableLength

  const overflow = (): void => {
    fail(
      opts.overflowMessage ??
        `stream buffer exceeded ${opts.maxBufferBytes} bytes: the client reads too slowly; resume with from=<last change id>`,
    )
  }

  const waitDrain = (): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        stream.off('drain', done)
        stream.off('close', done)
        resolve()
      }
      stream.on('drain', done)
      stream.on('close', done)
    })

  function write(line: string): boolean {
    if (closed) return false
    if (sourceActive || queue.length > 0) {
      queue.push(line)
      queuedBytes += line.length
      if (queuedBytes + held() > opts.maxBufferBytes) overflow()
      return !closed
    }
    stream.write(line)
    if (held() > opts.maxBufferBytes) overflow()
    return !closed
  }

  async function pipeFrom(source: Iterable<string> | AsyncIterable<string>): Promise<void> {
    if (closed) return
    sourceActive = true
    try {
      if (Symbol.iterator in source) {
        // a snapshot held in memory: written in pieces of about SOURCE_PIECE_CHARS, not a
        // write (and an HTTP chunk, often a syscall) per line
        let piece = ''
        for (const line of source) {
          piece += line
          if (piece.length < SOURCE_PIECE_CHARS) continue
          if (closed) return
          const ok = stream.write(piece)
          piece = ''
          if (!ok) await waitDrain()
        }
        if (piece !== '' && !closed && !stream.write(piece)) await waitDrain()
      } else
        for await (const line of source) {
          if (closed) return
          if (!stream.write(line)) await waitDrain()
        }
      while (queue.length > 0 && !closed) {
        const line = queue.shift() as string
        queuedBytes -= line.length
        if (!stream.write(line)) await waitDrain()
      }
    } finally {
      sourceActive = false
    }
  }

  function fail(message: string): void {
    if (closed) return
    queue.length = 0
    queuedBytes = 0
    stream.end(lines.error(message))
    onClosed()
  }

  function end(): void {
    if (closed) return
    stream.end()
    onClosed()
  }

  return {
    stream,
    get closed() {
      return closed
    },
    write,
    pipeFrom,
    fail,
    end,
    onClose(cb) {
      if (closed) cb()
      else closeCbs.push(cb)
    },
  }
}
