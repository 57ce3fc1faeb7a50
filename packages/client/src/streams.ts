import type { ChangeId, JsonSqlValue, NotifyEvent, QueryEvent, RowId } from '@patina/api'
import { PatinaClientError, missedChangeError } from './errors.js'
import type { HttpResponse } from './http.js'
import { decodeNdjson, decodeNdjsonBatches, parseNotifyEvent, parseQueryEvent } from './ndjson.js'

/** A row of a query answer. `rowid` is the answer's 1-based sequence number. */
export interface QueryRow {
  rowid: RowId
  cells: JsonSqlValue[]
}

/** A whole query answer. */
export interface QueryResult {
  columns: string[]
  rows: QueryRow[]
  /** Execution time reported by the server (`eoq.time`), in seconds. */
  timeS: number
}

/**
 * The NDJSON answer of `POST /v1/queries`. Iterate it for the typed events (`columns`, `row`,
 * `eoq`, `error`), or use {@link QueryStream.rows} / {@link QueryStream.collect}, which throw
 * a `PATINA_ERR_HTTP` error carrying the server's message on an `error` event. One pass only.
 */
export interface QueryStream extends AsyncIterable<QueryEvent> {
  /** The column names, once the `columns` event has been read (null before). */
  readonly columns: string[] | null
  /** The worker that answers. */
  readonly worker: string
  rows(): AsyncIterable<QueryRow>
  collect(): Promise<QueryResult>
  /** Stops reading and frees the connection. */
  close(): void
}

/**
 * The raw NDJSON stream of a subscription (`POST /v1/subscriptions` or `GET /v1/subscriptions/:id`).
 *
 * It tracks the last change id (from `eoq.change_id` and `change` events) and throws
 * `PATINA_ERR_MISSED_CHANGE` when a change id is skipped (never silently); a change id at or below
 * the last one is a replay and is dropped. It does not reconnect: see `watch` for that. One pass only.
 */
export interface SubscriptionStream extends AsyncIterable<QueryEvent> {
  /** `corro-query-id` header: the subscription id, to resume with `subscription(id, { from })`. */
  readonly id: string
  /** `corro-query-hash` header: hash of the expanded SQL, when the server sent it. */
  readonly hash: string | null
  readonly worker: string
  /** The last change id seen (null until an `eoq` or `change`; the `from` it was opened with, if any). */
  readonly lastChangeId: ChangeId | null
  /**
   * The same events as the iterator, in batches (those of one chunk read; never empty), with the
   * same checks: for a reader that handles many events at once (a snapshot of many rows). A gap
   * throws after the batch of the events before it. `lastChangeId` covers a batch once it is
   * yielded. One pass only, shared with the iterator.
   */
  batches(): AsyncIterable<QueryEvent[]>
  close(): void
}

/** The NDJSON stream of `POST /v1/updates/:table`. One pass only. */
export interface UpdatesStream extends AsyncIterable<NotifyEvent> {
  /** `corro-query-id` header, when sent. */
  readonly id: string | null
  readonly worker: string
  close(): void
}

function once<T>(
  what: string,
  gen: () => AsyncGenerator<T, void, undefined>,
): () => AsyncGenerator<T, void, undefined> {
  let used = false
  return () => {
    if (used) throw new PatinaClientError('PATINA_ERR_PARAM_INVALID', `${what} can only be iterated once`)
    used = true
    return gen()
  }
}

function header(res: HttpResponse, name: string): string | null {
  const v = res.headers[name]
  if (Array.isArray(v)) return v[0] ?? null
  return v ?? null
}

export function createQueryStream(res: HttpResponse, worker: string, maxLineBytes: number): QueryStream {
  let columns: string[] | null = null
  const events = once('a query stream', async function* () {
    for await (const ev of decodeNdjson(res.body, parseQueryEvent, { maxLineBytes })) {
      if ('columns' in ev) columns = ev.columns
      yield ev
    }
  })
  const serverError = (msg: string): PatinaClientError =>
    new PatinaClientError('PATINA_ERR_HTTP', `query on ${worker} failed: ${msg}`, {
      httpStatus: res.status,
      serverMessage: msg,
      url: res.url,
    })
  async function* rows(): AsyncGenerator<QueryRow, void, undefined> {
    for await (const ev of events()) {
      if ('row' in ev) yield { rowid: ev.row[0], cells: ev.row[1] }
      else if ('error' in ev) throw serverError(ev.error)
    }
  }
  return {
    get columns() {
      return columns
    },
    worker,
    [Symbol.asyncIterator]: events,
    rows,
    async collect() {
      const out: QueryRow[] = []
      let timeS = 0
      for await (const ev of events()) {
        if ('row' in ev) out.push({ rowid: ev.row[0], cells: ev.row[1] })
        else if ('eoq' in ev) timeS = ev.eoq.time
        else if ('error' in ev) throw serverError(ev.error)
      }
      return { columns: columns ?? [], rows: out, timeS }
    },
    close: () => res.close(),
  }
}

export function createSubscriptionStream(
  res: HttpResponse,
  worker: string,
  maxLineBytes: number,
  from: ChangeId | null,
): SubscriptionStream {
  const id = header(res, 'corro-query-id')
  if (id === null) {
    res.close()
    throw new PatinaClientError(
      'PATINA_ERR_HTTP',
      `subscription answer from ${res.url} has no corro-query-id header`,
      {
        url: res.url,
        httpStatus: res.status,
      },
    )
  }
  let last: ChangeId | null = from !== null && from > 0 ? from : null
  /** Checks one event against the last change id: `keep`, `replay` (dropped) or a gap (thrown). */
  const check = (ev: QueryEvent): boolean => {
    if ('eoq' in ev) {
      if (ev.eoq.change_id !== undefined) last = ev.eoq.change_id
    } else if ('change' in ev) {
      const cid = ev.change[3]
      if (last !== null) {
        if (cid <= last) return false
        if (cid !== last + 1) {
          res.close()
          throw missedChangeError(last + 1, cid, res.url)
        }
      }
      last = cid
    }
    return true
  }
  const read = once('a subscription stream', () =>
    decodeNdjsonBatches(res.body, parseQueryEvent, { maxLineBytes }),
  )
  async function* events(): AsyncGenerator<QueryEvent, void, undefined> {
    for await (const batch of read()) for (const ev of batch) if (check(ev)) yield ev
  }
  async function* batches(): AsyncGenerator<QueryEvent[], void, undefined> {
    for await (const batch of read()) {
      const out: QueryEvent[] = []
      try {
        for (const ev of batch) if (check(ev)) out.push(ev)
      } catch (err) {
        if (out.length > 0) yield out
        throw err
      }
      if (out.length > 0) yield out
    }
  }
  return {
    id,
    hash: header(res, 'corro-query-hash'),
    worker,
    get lastChangeId() {
      return last
    },
    [Symbol.asyncIterator]: events,
    batches: () => ({ [Symbol.asyncIterator]: batches }),
    close: () => res.close(),
  }
}

export function createUpdatesStream(res: HttpResponse, worker: string, maxLineBytes: number): UpdatesStream {
  const events = once('an updates stream', () => decodeNdjson(res.body, parseNotifyEvent, { maxLineBytes }))
  return {
    id: header(res, 'corro-query-id'),
    worker,
    [Symbol.asyncIterator]: events,
    close: () => res.close(),
  }
}
