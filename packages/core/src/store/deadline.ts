import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { PatinaError } from '@patina/api'
import type { Database as Db, Statement as DbStatement } from 'better-sqlite3'

/**
 * Statement deadlines enforced inside SQLite.
 *
 * better-sqlite3 is compiled without SQLite's progress handler and has no interrupt, so a
 * running statement cannot be stopped from JavaScript. Our loadable extension
 * (`native/deadline.c`, built by node-gyp at install) gives every connection that loads it the
 * function `__patina_deadline(key, ms)` and runs one watchdog thread that calls
 * `sqlite3_interrupt` on a connection whose armed deadline has passed: the statement then fails
 * with `SQLITE_INTERRUPT` and its transaction rolls back. Each connection gets a random key on
 * load, so client SQL cannot arm, extend or disarm a deadline.
 */

/** Where node-gyp puts the extension: `<package>/build/Release` (the same from `src/` and `dist/`). */
export const DEADLINE_EXTENSION_PATH = fileURLToPath(
  new URL('../../build/Release/patina_deadline.node', import.meta.url),
)
const ENTRY_POINT = 'sqlite3_patinadeadline_init'

/** A connection's deadline: armed before a client statement runs, disarmed when it ends. */
export interface DeadlineGuard {
  /** Arms the deadline `ms` milliseconds from now (a positive integer; replaces any armed one). */
  arm(ms: number): void
  /**
   * Disarms. Returns whether the deadline armed until now passed (the watchdog interrupted the
   * connection, so an `SQLITE_INTERRUPT` seen meanwhile was this deadline). Once it returns, no
   * interrupt reaches the connection; one that arrived just before is cleared by SQLite when the
   * next statement starts.
   */
  disarm(): boolean
  /**
   * Brings the armed deadline of the connections keyed `target` (a read thread's connection)
   * forward to now: their running statement stops at once. Unarmed connections are left alone.
   */
  cancel(target: Uint8Array): void
}

function missing(path: string, cause?: unknown): PatinaError {
  const why = cause === undefined ? 'the file does not exist' : (cause as Error).message
  return new PatinaError(
    'PATINA_ERR_DEADLINE_EXTENSION',
    `cannot load the SQLite deadline extension ${path} (${why}); it is built when @patina/core is installed: rebuild it with \`pnpm --filter @patina/core run build:native\` (needs a C compiler, make and python3)`,
    ...(cause === undefined ? [] : [{ cause }]),
  )
}

/**
 * Loads the deadline extension on `db` and returns its guard. Throws
 * `PATINA_ERR_DEADLINE_EXTENSION` naming the file and how to rebuild it when it is missing or
 * does not load.
 */
export function loadDeadline(db: Db, opts: { path?: string; key?: Uint8Array } = {}): DeadlineGuard {
  const path = opts.path ?? DEADLINE_EXTENSION_PATH
  if (!existsSync(path)) throw missing(path)
  try {
    // better-sqlite3 takes the entry point as a second argument; its types omit it.
    ;(db.loadExtension as (file: string, entryPoint: string) => Db).call(db, path, ENTRY_POINT)
  } catch (err) {
    throw missing(path, err)
  }
  const key = opts.key ?? randomBytes(32)
  const stmt = db.prepare('SELECT __patina_deadline(?, ?)').pluck() as DbStatement<
    [Uint8Array, number],
    number
  >
  const cancelStmt = db.prepare('SELECT __patina_deadline(?, 0, ?)').pluck() as DbStatement<
    [Uint8Array, Uint8Array],
    number
  >
  /**
   * Calls the function. An overdue connection is interrupted every millisecond until it is
   * disarmed, and the interrupt can land on this very call before the function runs (then
   * nothing changed): call again. It succeeds at once in practice; the bound is a safeguard.
   */
  const call = (ms: number): boolean => {
    for (let attempt = 0; ; attempt++) {
      try {
        return stmt.get(key, ms) === 1
      } catch (err) {
        if (!isInterrupt(err) || attempt >= 1000) throw err
      }
    }
  }
  // The first call sets this connection's key.
  call(0)
  let armed = false
  return {
    arm(ms) {
      const n = Math.ceil(ms)
      call(Number.isFinite(n) ? Math.min(Math.max(1, n), 2 ** 40) : 2 ** 40)
      armed = true
    },
    disarm() {
      if (!armed) return false
      armed = false
      return call(0)
    },
    cancel(target) {
      for (let attempt = 0; ; attempt++) {
        try {
          cancelStmt.get(key, target)
          return
        } catch (err) {
          if (!isInterrupt(err) || attempt >= 1000) throw err
        }
      }
    },
  }
}

/** Whether `err` is SQLite's answer to an interrupt (the statement was stopped by its deadline). */
export function isInterrupt(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'SQLITE_INTERRUPT'
}

/** The error a statement stopped by its deadline leaves core with. */
export function timeoutError(what: string, ms: number, cause?: unknown): PatinaError {
  return new PatinaError(
    'PATINA_ERR_TIMEOUT',
    `${what} stopped: its deadline of ${ms} ms passed`,
    ...(cause === undefined ? [] : [{ cause }]),
  )
}
