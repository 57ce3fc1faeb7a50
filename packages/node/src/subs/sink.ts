/**
 * Where a subscription or updates stream writes its NDJSON lines. The HTTP API's
 * `NdjsonSink` (`api/ndjson.ts`) is this interface plus the response body stream.
 */
export interface EventSink {
  /** Whether the sink has ended (by `end`, `fail`, overflow or client disconnect). */
  readonly closed: boolean
  /** Queues a live line; never waits. Returns false when the sink is closed (the line is dropped). */
  write(line: string): boolean
  /** Writes every line of `source` with backpressure; live lines wait behind it. */
  pipeFrom(source: Iterable<string> | AsyncIterable<string>): Promise<void>
  /** Writes an `error` event and ends the stream. */
  fail(message: string): void
  end(): void
  /** Called once when the sink closes, for any reason. */
  onClose(cb: () => void): void
}
