/**
 * Waiting in tests: the one `waitFor` and `sleep` of every test tier (packages' unit tests,
 * `test/inproc`, `test/process`, `test/chaos`, `test/docker`) and of `bench/`.
 *
 * Hook-free (no vitest import), so benchmarks and helper processes may import it too.
 */
import { setTimeout as delay } from 'node:timers/promises'

export interface WaitOptions {
  /** Give up after this long (default 20 s). */
  timeoutMs?: number
  /** Pause between two tries (default 25 ms; Docker tests ask for more). */
  intervalMs?: number
  /**
   * Checked before every try: a message fails the wait at once (say, a process that the
   * condition waits on has exited), instead of after the whole timeout.
   */
  stopIf?: () => string | undefined
}

/** Waits `ms` of real time. */
export const sleep = (ms: number): Promise<void> => delay(ms)

/**
 * Tries `fn` until it returns something other than `undefined` or `false`, and returns that.
 * A try that throws counts as "not yet"; its error is named in the timeout message.
 *
 * @example
 * await waitFor('two members', () => cluster.members().length === 2)
 * const rows = await waitFor('the row', async () => (await query(sql)).length > 0 && rows, 60_000)
 */
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  opts: number | WaitOptions = {},
): Promise<T> {
  const {
    timeoutMs = 20_000,
    intervalMs = 25,
    stopIf,
  } = typeof opts === 'number' ? { timeoutMs: opts } : opts
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    const stop = stopIf?.()
    if (stop !== undefined) throw new Error(`${stop} (while waiting for ${what})`)
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? `: ${String(last)}` : ''}`,
      )
    await delay(intervalMs)
  }
}
