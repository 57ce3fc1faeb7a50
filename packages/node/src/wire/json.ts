import type { SqlValue } from '@patina/api'

/**
 * JSON text of a REAL as serde_json writes an `f64` (Corrosion's responses): always with a
 * fraction or an exponent, so that `2.0` stays a float for a reader that decodes untyped JSON
 * (an integral REAL is written `2.0`, not `2`); non-finite values become `null`.
 */
export function realJson(v: number): string {
  if (!Number.isFinite(v)) return 'null'
  if (!Number.isInteger(v)) return String(v)
  if (Object.is(v, -0)) return '-0.0'
  return Math.abs(v) < 1e16 ? `${v}.0` : v.toExponential()
}

/**
 * JSON text of one SQLite value as the HTTP API returns it (Corrosion's `SqliteValue`):
 * INTEGER (a `bigint` from the engine) as its exact digits, also beyond 2^53; REAL (a
 * `number`) as a float ({@link realJson}); blobs as arrays of byte numbers.
 */
export function sqlValueJson(v: SqlValue): string {
  if (v === null) return 'null'
  switch (typeof v) {
    case 'number':
      return realJson(v)
    case 'bigint':
      return v.toString()
    case 'string':
      return JSON.stringify(v)
    default:
      return bytesJson(v)
  }
}

function bytesJson(b: Uint8Array): string {
  let s = '['
  for (let i = 0; i < b.length; i++) s += i === 0 ? String(b[i]) : ',' + String(b[i])
  return s + ']'
}

/** JSON text of a row of values: `[v1,v2,...]`. */
export function rowJson(values: readonly SqlValue[]): string {
  let s = '['
  for (let i = 0; i < values.length; i++) {
    if (i > 0) s += ','
    s += sqlValueJson(values[i] ?? null)
  }
  return s + ']'
}

/**
 * JSON text of values whose storage class is not known (captured primary-key values, where an
 * integral number is an INTEGER key): integral numbers are written as integers.
 */
export function keyJson(values: readonly SqlValue[]): string {
  return rowJson(values.map((v) => (typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : v)))
}

/** NDJSON lines of the query/subscription event stream, built from pre-encoded parts. */
export const lines = {
  columns: (names: readonly string[]): string => `{"columns":${JSON.stringify(names)}}\n`,
  row: (rowid: number, cellsJson: string): string => `{"row":[${rowid},${cellsJson}]}\n`,
  eoq: (timeSec: number, changeId?: number): string =>
    changeId === undefined
      ? `{"eoq":{"time":${JSON.stringify(timeSec)}}}\n`
      : `{"eoq":{"time":${JSON.stringify(timeSec)},"change_id":${changeId}}}\n`,
  change: (
    type: 'insert' | 'update' | 'delete',
    rowid: number,
    cellsJson: string,
    changeId: number,
  ): string => `{"change":["${type}",${rowid},${cellsJson},${changeId}]}\n`,
  notify: (type: 'update' | 'delete', pkJson: string): string => `{"notify":["${type}",${pkJson}]}\n`,
  error: (message: string): string => `{"error":${JSON.stringify(message)}}\n`,
}
