import type { SqlValue } from '@patina/api'

/**
 * JSON text of one SQLite value as the HTTP API returns it (Corrosion's `SqliteValue`):
 * blobs become arrays of byte numbers, big integers are written as raw digits (JSON numbers,
 * not strings, so that 64-bit ids survive for clients that parse them exactly), non-finite
 * reals become `null`.
 */
export function sqlValueJson(v: SqlValue): string {
  if (v === null) return 'null'
  switch (typeof v) {
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : 'null'
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
