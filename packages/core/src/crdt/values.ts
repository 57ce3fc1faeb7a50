import type { SqlValue } from '@patina/api'

/**
 * Total order on SQLite values, the same on every node: NULL < numbers (integers and
 * reals compared by value) < TEXT (UTF-8 bytes, like SQLite's BINARY collation) < BLOB
 * (bytes). The merge uses it to break ties between concurrent writes of one cell.
 */
export function compareValues(a: SqlValue, b: SqlValue): number {
  const ra = rank(a)
  const rb = rank(b)
  if (ra !== rb) return ra < rb ? -1 : 1
  switch (ra) {
    case 0:
      return 0
    case 1:
      return compareNumbers(a as number | bigint, b as number | bigint)
    case 2:
      return a === b ? 0 : Buffer.compare(Buffer.from(a as string, 'utf8'), Buffer.from(b as string, 'utf8'))
    default:
      return Buffer.compare(a as Uint8Array, b as Uint8Array)
  }
}

function rank(v: SqlValue): number {
  if (v === null) return 0
  if (typeof v === 'number' || typeof v === 'bigint') return 1
  if (typeof v === 'string') return 2
  return 3
}

function compareNumbers(a: number | bigint, b: number | bigint): number {
  if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0
  // Mixed bigint/number: compare exactly where possible.
  if (typeof a === 'number' && !Number.isInteger(a)) return a < Number(b) ? -1 : a > Number(b) ? 1 : 0
  if (typeof b === 'number' && !Number.isInteger(b)) return Number(a) < b ? -1 : Number(a) > b ? 1 : 0
  const x = BigInt(a)
  const y = BigInt(b)
  return x < y ? -1 : x > y ? 1 : 0
}

export function valuesEqual(a: SqlValue, b: SqlValue): boolean {
  if (a === b) return true
  if (a === null || b === null) return false
  if (typeof a === 'string' || typeof b === 'string') return false
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.compare(a, b) === 0
  }
  // number/bigint mix
  return compareValues(a, b) === 0 && (typeof a === typeof b || Number.isInteger(Number(a)))
}

/** Integers inside ±2^53 become numbers; larger ones stay bigint so they survive round trips. */
export function normalizeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
}

/** A value read from SQLite with safe integers on, keeping its storage class (INTEGER as `bigint`). */
export function exactValue(v: unknown): SqlValue {
  return v === undefined ? null : (v as SqlValue)
}

/** Normalize a value read from SQLite with safe integers on. */
export function normalizeValue(v: unknown): SqlValue {
  if (typeof v === 'bigint') return normalizeInt(v)
  if (v === undefined) return null
  return v as SqlValue
}

/** Approximate encoded size of a value in bytes, for chunking. */
export function valueSize(v: SqlValue): number {
  if (v === null) return 1
  if (typeof v === 'number' || typeof v === 'bigint') return 9
  if (typeof v === 'string') return v.length * 3 + 5
  return v.length + 5
}
