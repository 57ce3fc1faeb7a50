/**
 * A one-shot command (`exec`, `query`, `cluster members`) run right after `patina agent` was
 * (re)started finds nothing listening yet: the agent opens its database and joins the cluster
 * before its API listens. Instead of failing with ECONNREFUSED at once, the command says so and
 * retries for a short, bounded time. Only a refused connection is retried: the request never
 * reached a server, so even a write is safe to send again.
 */
import { PatinaError } from '@patina/api'

/** How long a command keeps retrying a refused connection, in milliseconds. */
export const CONNECT_RETRY_MS = 10_000
/** Pause between two attempts, in milliseconds. */
export const CONNECT_RETRY_INTERVAL_MS = 250

/** Whether `err` (or its cause) is a refused TCP connection. */
export function connectionRefused(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 4; depth++) {
    if ((e as { code?: unknown }).code === 'ECONNREFUSED') return true
    e = (e as { cause?: unknown }).cause
  }
  return false
}

export interface ConnectRetryOptions {
  /** The API URL, for the messages. */
  url: string
  /** Total retry time in milliseconds (default {@link CONNECT_RETRY_MS}); 0 = no retry. */
  budgetMs?: number | undefined
  intervalMs?: number | undefined
  /** Told once, when the first attempt was refused. */
  onWait: (message: string) => void
  /** Stops the retries (Ctrl-C). */
  signal?: AbortSignal
  now?: () => number
  sleep?: (ms: number) => Promise<void>
}

/**
 * Runs `attempt`; while it fails with a refused connection, says so once and tries again every
 * `intervalMs` until `budgetMs` have passed, then fails with a message that names the URL.
 */
export async function retryWhileRefused<T>(attempt: () => Promise<T>, o: ConnectRetryOptions): Promise<T> {
  const budget = o.budgetMs ?? CONNECT_RETRY_MS
  const now = o.now ?? Date.now
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const deadline = now() + budget
  for (let tries = 1; ; tries++) {
    try {
      return await attempt()
    } catch (err) {
      if (!connectionRefused(err)) throw err
      if (now() >= deadline || o.signal?.aborted) {
        const seconds = Math.round(budget / 100) / 10
        throw new PatinaError(
          'PATINA_ERR_HTTP',
          `no agent answers at ${o.url}: the connection was refused${budget > 0 ? ` for ${seconds} s (${tries} attempts)` : ''}; ` +
            'is `patina -c <config> agent` running, and is the API address right?',
          { cause: err },
        )
      }
      if (tries === 1)
        o.onWait(
          `${o.url} refused the connection (the agent may be starting); retrying for up to ${Math.round(budget / 1000)} s`,
        )
      await sleep(o.intervalMs ?? CONNECT_RETRY_INTERVAL_MS)
    }
  }
}
