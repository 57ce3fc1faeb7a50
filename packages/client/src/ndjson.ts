import type { ChangeId, JsonSqlValue, NotifyEvent, QueryEvent, RowId } from '@patina/api'
import { PatinaClientError } from './errors.js'

/** Defaults of the NDJSON decoder. */
export const NDJSON_DEFAULTS = {
  /** Longest accepted line in bytes (without the newline). A longer line is an error, never buffered whole. */
  maxLineBytes: 8 * 1024 * 1024,
} as const

export interface LineSplitterOptions {
  /** Longest accepted line in bytes; see {@link NDJSON_DEFAULTS}. */
  maxLineBytes?: number
}

/** Splits a byte stream into UTF-8 lines with bounded memory. Pure: no I/O. */
export interface LineSplitter {
  /** Feeds bytes; returns the complete lines they finish. Throws `PATINA_ERR_NDJSON` on an oversized line. */
  push(chunk: Uint8Array): string[]
  /** Ends the input; returns the unterminated last line, if any. */
  end(): string | null
}

const NEWLINE = 0x0a

export function createLineSplitter(opts: LineSplitterOptions = {}): LineSplitter {
  const maxLineBytes = opts.maxLineBytes ?? NDJSON_DEFAULTS.maxLineBytes
  const decoder = new TextDecoder('utf-8', { fatal: false })
  let pending: Uint8Array[] = []
  let pendingBytes = 0
  let lineNo = 0

  const tooLong = (bytes: number): PatinaClientError =>
    new PatinaClientError(
      'PATINA_ERR_NDJSON',
      `NDJSON line ${lineNo + 1} is longer than maxLineBytes ${maxLineBytes} (at least ${bytes} bytes)`,
    )

  const take = (last: Uint8Array): string => {
    let bytes: Uint8Array
    if (pending.length === 0) bytes = last
    else {
      bytes = new Uint8Array(pendingBytes + last.length)
      let off = 0
      for (const p of pending) {
        bytes.set(p, off)
        off += p.length
      }
      bytes.set(last, off)
    }
    pending = []
    pendingBytes = 0
    lineNo++
    let s = decoder.decode(bytes)
    if (s.endsWith('\r')) s = s.slice(0, -1)
    return s
  }

  return {
    push(chunk) {
      const lines: string[] = []
      let start = 0
      for (;;) {
        const nl = chunk.indexOf(NEWLINE, start)
        if (nl === -1) break
        const part = chunk.subarray(start, nl)
        if (pendingBytes + part.length > maxLineBytes) throw tooLong(pendingBytes + part.length)
        lines.push(take(part))
        start = nl + 1
      }
      if (start < chunk.length) {
        const rest = chunk.subarray(start)
        if (pendingBytes + rest.length > maxLineBytes) throw tooLong(pendingBytes + rest.length)
        // copy: the caller may reuse its buffer
        pending.push(rest.slice())
        pendingBytes += rest.length
      }
      return lines
    },
    end() {
      if (pendingBytes === 0) return null
      return take(new Uint8Array(0))
    },
  }
}

function malformed(what: string, line: string): PatinaClientError {
  const shown = line.length > 200 ? `${line.slice(0, 200)}…` : line
  return new PatinaClientError('PATINA_ERR_NDJSON', `malformed NDJSON line (${what}): ${shown}`)
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v)
const isCells = (v: unknown): v is JsonSqlValue[] => Array.isArray(v)
const CHANGE_TYPES = new Set(['insert', 'update', 'delete'])
const QUERY_KEYS = ['columns', 'row', 'eoq', 'change', 'error'] as const

function parseJsonObject(line: string): Record<string, unknown> {
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch (err) {
    throw malformed(`invalid JSON: ${(err as Error).message}`, line)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformed('not a JSON object', line)
  return v as Record<string, unknown>
}

/**
 * Parses and validates one line of `/v1/queries` or `/v1/subscriptions`. Returns `null` for an
 * object with none of the known keys (forward compatibility: ignored); throws `PATINA_ERR_NDJSON`
 * for invalid JSON, a non-object, or a known key with the wrong shape.
 */
export function parseQueryEvent(line: string): QueryEvent | null {
  const o = parseJsonObject(line)
  const key = QUERY_KEYS.find((k) => Object.hasOwn(o, k))
  switch (key) {
    case 'columns': {
      const c = o['columns']
      if (!Array.isArray(c) || !c.every((x) => typeof x === 'string'))
        throw malformed('columns must be an array of strings', line)
      return { columns: c as string[] }
    }
    case 'row': {
      const r = o['row']
      if (!Array.isArray(r) || r.length !== 2 || !isInt(r[0]) || !isCells(r[1]))
        throw malformed('row must be [rowid, cells]', line)
      return { row: [r[0] as RowId, r[1]] }
    }
    case 'eoq': {
      const e = o['eoq'] as Record<string, unknown> | null
      if (typeof e !== 'object' || e === null || Array.isArray(e))
        throw malformed('eoq must be an object', line)
      const time = typeof e['time'] === 'number' ? e['time'] : 0
      const cid = e['change_id']
      if (cid !== undefined && cid !== null && !isInt(cid))
        throw malformed('eoq.change_id must be an integer', line)
      return isInt(cid) ? { eoq: { time, change_id: cid as ChangeId } } : { eoq: { time } }
    }
    case 'change': {
      const c = o['change']
      if (
        !Array.isArray(c) ||
        c.length !== 4 ||
        !CHANGE_TYPES.has(c[0] as string) ||
        !isInt(c[1]) ||
        !isCells(c[2]) ||
        !isInt(c[3])
      )
        throw malformed('change must be [type, rowid, cells, change_id]', line)
      return { change: [c[0] as 'insert' | 'update' | 'delete', c[1] as RowId, c[2], c[3] as ChangeId] }
    }
    case 'error': {
      const e = o['error']
      return { error: typeof e === 'string' ? e : JSON.stringify(e) }
    }
    default:
      return null
  }
}

/** Parses and validates one line of `/v1/updates/:table`; same rules as {@link parseQueryEvent}. */
export function parseNotifyEvent(line: string): NotifyEvent | null {
  const o = parseJsonObject(line)
  if (Object.hasOwn(o, 'notify')) {
    const n = o['notify']
    if (!Array.isArray(n) || n.length !== 2 || (n[0] !== 'update' && n[0] !== 'delete') || !isCells(n[1]))
      throw malformed("notify must be ['update'|'delete', pk]", line)
    return { notify: [n[0], n[1]] }
  }
  if (Object.hasOwn(o, 'error')) {
    const e = o['error']
    return { error: typeof e === 'string' ? e : JSON.stringify(e) }
  }
  return null
}

/**
 * Decodes an NDJSON byte stream into parsed values, one batch per chunk read (the values of the
 * lines that chunk completes; chunks that complete none yield nothing). Blank lines are skipped;
 * lines that parse to `null` (unknown event kinds) are skipped; anything else invalid throws
 * `PATINA_ERR_NDJSON` after the batch of the lines before it. Memory is bounded by
 * `maxLineBytes` plus one chunk. A 100,000-row snapshot costs a consumer a few dozen awaits
 * this way instead of one per line through every generator in between.
 */
export async function* decodeNdjsonBatches<T>(
  source: AsyncIterable<Uint8Array>,
  parse: (line: string) => T | null,
  opts: LineSplitterOptions = {},
): AsyncGenerator<T[], void, undefined> {
  const splitter = createLineSplitter(opts)
  const run = function* (lines: readonly string[]): Generator<T[], void, undefined> {
    const out: T[] = []
    try {
      for (const line of lines) {
        if (line.trim() === '') continue
        const v = parse(line)
        if (v !== null) out.push(v)
      }
    } catch (err) {
      if (out.length > 0) yield out
      throw err
    }
    if (out.length > 0) yield out
  }
  for await (const chunk of source) yield* run(splitter.push(chunk))
  const last = splitter.end()
  if (last !== null) yield* run([last])
}

/**
 * Decodes an NDJSON byte stream into parsed values. Blank lines are skipped; lines that parse to
 * `null` (unknown event kinds) are skipped; anything else invalid throws `PATINA_ERR_NDJSON`.
 * Memory is bounded by `maxLineBytes` plus one chunk.
 */
export async function* decodeNdjson<T>(
  source: AsyncIterable<Uint8Array>,
  parse: (line: string) => T | null,
  opts: LineSplitterOptions = {},
): AsyncGenerator<T, void, undefined> {
  for await (const batch of decodeNdjsonBatches(source, parse, opts)) yield* batch
}
