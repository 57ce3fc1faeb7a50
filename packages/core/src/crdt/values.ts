import type { SqlValue } from '@patina/api'

/**
 * SQLite values as replication carries them. The storage class is part of the value: an
 * INTEGER is always a `bigint` and a REAL always a `number` (what better-sqlite3 gives with
 * `safeIntegers(true)` and what it binds back: a `bigint` as INTEGER, a `number` as REAL), so
 * INTEGER 5 and REAL 5.0 stay apart from capture through the codec to the row written on a
 * replica. Outside replication (client reads) integers within ±2^53 may be plain numbers; see
 * `normalizeValue`.
 */

/** SQLite's storage classes, as `typeof()` names them. */
export type StorageClass = 'null' | 'integer' | 'real' | 'text' | 'blob'

/** The storage class of a value as replication carries it (`bigint` INTEGER, `number` REAL). */
export function storageClass(v: SqlValue): StorageClass {
  if (v === null) return 'null'
  switch (typeof v) {
    case 'bigint':
      return 'integer'
    case 'number':
      return 'real'
    case 'string':
      return 'text'
    default:
      return 'blob'
  }
}

/**
 * Total order on SQLite values, the same on every node, following SQLite's own order:
 * NULL < numbers < TEXT (UTF-8 bytes, SQLite's BINARY collation) < BLOB (bytes). Numbers compare
 * by exact value, INTEGER against REAL included (as SQLite compares them); an INTEGER and a REAL
 * of equal value (1 and 1.0), which SQLite calls equal, are different values here and the
 * INTEGER sorts first, so a tie between them is decided the same way everywhere. The merge
 * uses it to break ties between concurrent writes of one cell.
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
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0
  // INTEGER against REAL: by exact value, then the INTEGER first.
  if (typeof a === 'bigint') {
    const c = compareIntReal(a, b as number)
    return c !== 0 ? c : -1
  }
  const c = compareIntReal(b as bigint, a)
  return c !== 0 ? -c : 1
}

/** Exact comparison of a 64-bit integer with a double (no rounding of either). */
export function compareIntReal(i: bigint, r: number): number {
  if (Number.isNaN(r)) return 1
  if (r === Infinity) return -1
  if (r === -Infinity) return 1
  const f = Math.floor(r)
  const fi = BigInt(f)
  if (i < fi) return -1
  if (i > fi) return 1
  return r > f ? -1 : 0
}

/**
 * Whether two values are the same SQLite value: same storage class and same value (INTEGER 1
 * and REAL 1.0 differ, as do 'a' and x'61'). Capture uses it to skip cells an UPDATE left as
 * they were.
 */
export function valuesEqual(a: SqlValue, b: SqlValue): boolean {
  if (a === b) return true
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b) === 0
  return false
}

/** Integers inside ±2^53 become numbers; larger ones stay bigint so they survive round trips. */
export function normalizeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
}

/**
 * A value read from SQLite with safe integers on, for client reads: integers within ±2^53 as
 * numbers (where an INTEGER and an integral REAL look alike), larger ones as bigint.
 */
export function normalizeValue(v: unknown): SqlValue {
  if (typeof v === 'bigint') return normalizeInt(v)
  if (v === undefined) return null
  return v as SqlValue
}

/** A value read from SQLite with safe integers on, keeping its storage class (INTEGER as bigint). */
export function exactValue(v: unknown): SqlValue {
  return v === undefined ? null : (v as SqlValue)
}

/** Approximate encoded size of a value in bytes, for chunking. */
export function valueSize(v: SqlValue): number {
  if (v === null) return 1
  if (typeof v === 'number' || typeof v === 'bigint') return 9
  if (typeof v === 'string') return v.length * 3 + 5
  return v.length + 5
}
