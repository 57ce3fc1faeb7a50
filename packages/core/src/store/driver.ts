import { PatinaError } from '@patina/api'
import Database from 'better-sqlite3'
import { bindPositional } from '../schema/params.js'
import type { Statement } from '../types.js'

/**
 * Where our values meet better-sqlite3 and its errors come back. Nothing above the store sees
 * a driver error: each one leaves core as a `PatinaError` with a code from `@patina/api`, so
 * the HTTP layer maps codes to statuses and never needs to know the driver's error names or
 * wording.
 */

/**
 * Bind arguments for a client statement: an array binds by position, numbered `?NNN` and named
 * parameters included (as Corrosion binds a JSON array; a count that does not match is
 * refused, naming what the statement expects), an object by name, keyed without its
 * `:`/`@`/`$` prefix (better-sqlite3 accepts any prefix for a bare name).
 */
export function bindParams(sql: string, params: Statement['params']): unknown[] {
  if (params === undefined) return bindPositional(sql, [])
  if (Array.isArray(params)) return bindPositional(sql, params)
  const named: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(params)) named[/^[:@$]/.test(k) ? k.slice(1) : k] = v
  return [named]
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err))

/**
 * An error of a client's own statement (prepare, bind or run): `PATINA_ERR_SQL`, whatever the
 * driver threw, as Corrosion answers every SQL failure of a request alike. Wrong parameter
 * counts and unknown named parameters (better-sqlite3 throws RangeError/TypeError for those)
 * included. `where` prefixes the message (`statement 2: `).
 */
export function statementError(err: unknown, where = ''): PatinaError {
  if (err instanceof PatinaError) return err
  return new PatinaError('PATINA_ERR_SQL', `${where}${messageOf(err)}`, { cause: err })
}

/**
 * An error on the store's own statements: a SQLite failure (busy, full, I/O, constraint) is
 * `PATINA_ERR_SQL`; anything else thrown there is a fault of ours, `PATINA_ERR_INTERNAL`.
 */
export function driverError(err: unknown): PatinaError {
  if (err instanceof PatinaError) return err
  const code = err instanceof Database.SqliteError ? 'PATINA_ERR_SQL' : 'PATINA_ERR_INTERNAL'
  return new PatinaError(code, messageOf(err), { cause: err })
}

/**
 * Opening a database file failed (missing directory, no permission, not a database): always
 * `PATINA_ERR_SQL` naming the file, whatever the driver threw.
 */
export function openError(path: string, err: unknown): PatinaError {
  if (err instanceof PatinaError) return err
  return new PatinaError('PATINA_ERR_SQL', `cannot open database ${path}: ${messageOf(err)}`, { cause: err })
}

/** Runs `fn`, turning any driver error it throws into a `PatinaError` (see `driverError`). */
export function guard<T>(fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    throw driverError(err)
  }
}

/** The same object with every method run under `guard`: for a store API handed out whole. */
export function guardMethods<T extends object>(api: T): T {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(api)) {
    out[k] =
      typeof v === 'function'
        ? (...args: unknown[]) => guard(() => (v as (...a: unknown[]) => unknown)(...args))
        : v
  }
  return out as T
}

/** Iterates `it`, turning any error a step throws into a `PatinaError` (see `driverError`). */
export function* guardIter<T>(it: Iterator<T>): Generator<T> {
  try {
    for (;;) {
      let next: IteratorResult<T>
      try {
        next = it.next()
      } catch (err) {
        throw driverError(err)
      }
      if (next.done === true) return
      yield next.value
    }
  } finally {
    it.return?.()
  }
}
