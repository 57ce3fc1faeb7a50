import type { SqlValue } from '@patina/api'
import type { StateEngine } from '../src/index.js'

/**
 * Exact comparison of stored cells, in SQL: every cell as `typeof:value`, where the value is
 * `quote()` (integers exact, text and blobs literally) or, for a REAL, `printf('%!.17g')` (enough
 * digits to tell any two doubles apart). Never through JSON, where 5 and 5.0 look alike.
 */
export const cellSql = (col: string): string =>
  `typeof(${col}) || ':' || CASE typeof(${col}) WHEN 'real' THEN printf('%!.17g', ${col}) ELSE quote(${col}) END`

/** The SQL selecting each row of `table` as one string of exact cells, in key order. */
export const rowsSql = (table: string, cols: readonly string[], orderBy: string): string =>
  `SELECT ${cols.map(cellSql).join(` || ' | ' || `)} FROM ${table} ORDER BY ${orderBy}`

/** Rows of a table of an engine, each one string of exact cells. */
export function exactRows(
  e: Pick<StateEngine, 'query'>,
  table: string,
  cols: readonly string[],
  orderBy: string,
): string[] {
  return [...e.query(rowsSql(table, cols, orderBy)).rows].map((r) => String(r[0]))
}

/** A value's storage class as replication carries it (for messages). */
export const classOf = (v: SqlValue): string =>
  v === null
    ? 'null'
    : typeof v === 'bigint'
      ? 'integer'
      : typeof v === 'number'
        ? 'real'
        : typeof v === 'string'
          ? 'text'
          : 'blob'

/** Column declarations covering SQLite's affinities, collations and STRICT types. */
export const LOOSE_COLUMN_TYPES = [
  '',
  'BLOB',
  'REAL',
  'NUMERIC',
  'INTEGER',
  'TEXT',
  'TEXT COLLATE NOCASE',
  'TEXT COLLATE RTRIM',
  'VARCHAR(10)',
  'DOUBLE',
] as const
export const STRICT_COLUMN_TYPES = ['ANY', 'INTEGER', 'REAL', 'TEXT', 'BLOB', 'TEXT COLLATE NOCASE'] as const

/** Defaults that fit each STRICT type (any of them suits a loose column). */
export const DEFAULTS_FOR: Record<string, readonly string[]> = {
  ANY: ["'dflt'", '7', '1.5', "x'00'", 'NULL'],
  INTEGER: ['7', '-1', 'NULL'],
  REAL: ['1.5', '7', 'NULL'],
  TEXT: ["'dflt'", "'7'", 'NULL'],
  BLOB: ["x'00'", 'NULL'],
  'TEXT COLLATE NOCASE': ["'Dflt'", 'NULL'],
}

/**
 * Values of every kind, as the API passes them to the engine: bigint for JSON integers (small
 * and 64-bit), number for reals (with and without fraction), 1n/0n for booleans, Buffer for
 * blobs, text that looks numeric.
 */
export const VALUES: readonly SqlValue[] = [
  null,
  0n,
  1n,
  -3n,
  7n,
  2n ** 63n - 1n,
  -(2n ** 63n),
  2n ** 53n + 1n,
  1.0,
  7.0,
  2.5,
  -0.5,
  1e300,
  0.1,
  '1',
  '1.0',
  ' 7',
  '1e3',
  '0x10',
  'a',
  'A',
  'a ',
  '',
  'é',
  Buffer.from([0]),
  Buffer.from([1, 255]),
  Buffer.alloc(0),
]

/** Literal SQL for values, to be written in statements rather than bound. */
export const LITERALS: readonly string[] = [
  'NULL',
  '1',
  '1.0',
  '7',
  '2.5',
  '9223372036854775807',
  '-9223372036854775808',
  '9223372036854775808',
  '1e999',
  "'1'",
  "'1.0'",
  "'a'",
  "'A '",
  "x'00'",
  "x''",
  'TRUE',
  '(1 = 1)',
  "CAST('7' AS INTEGER)",
  'CAST(7 AS REAL)',
]
