/**
 * A SQLite value as it travels through Patina.
 *
 * Integers beyond ±2^53 are carried as `bigint` so they survive a round trip;
 * blobs are `Uint8Array`. In JSON (the HTTP API) blobs are arrays of byte numbers,
 * as in Corrosion.
 */
export type SqlValue = null | number | bigint | string | Uint8Array

/** A JSON-encoded SQLite value as the HTTP API returns it (Corrosion's `SqliteValue`). */
export type JsonSqlValue = null | number | string | number[]

/** A parameter value as accepted in JSON statements (Corrosion's `SqliteParam`). */
export type JsonParam = null | boolean | number | string | number[] | Record<string, unknown> | unknown[]
