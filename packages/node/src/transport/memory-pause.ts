/**
 * Paused nodes for the in-memory network: a node whose event loop is blocked (a long
 * synchronous statement, a starved CPU, SIGSTOP) for a while. While paused it runs nothing:
 * its timers, the messages and frames sent to it, and the answers to its pings all wait. When
 * it resumes, its due timers run first and what it received is read just after — as in Node,
 * whose event loop runs due timers before reading sockets, which is why a blocked node sees
 * its own timeouts fire although the answers were already there.
 */
import type { ClusterClock, TimerHandle } from '../runtime/clock.js'

export interface Pauses {
  /** Block `name` for `ms` from now (extends a pause in progress). */
  pause(name: string, ms: number): void
  /** When `name` runs again (≤ now when it is not paused). */
  resumeAt(name: string): number
  /** Run `fn` now, or just after `name` resumes (after its timers) when it is paused. */
  whenAwake(name: string, fn: () => void): void
  /** Wait until `name` runs again (at once when it is not paused). */
  awake(name: string): Promise<void>
  /** The clock `name`'s own code must use: its timers never fire while it is paused. */
  clockFor(name: string): ClusterClock
}

export function createPauses(clock: ClusterClock): Pauses {
  const until = new Map<string, number>()
  const resumeAt = (name: string): number => until.get(name) ?? -Infinity
  const whenAwake = (name: string, fn: () => void): void => {
    const at = resumeAt(name)
    if (clock.now() >= at) fn()
    else clock.setTimeout(() => whenAwake(name, fn), at - clock.now() + 1)
  }
  return {
    pause(name, ms) {
      until.set(name, Math.max(resumeAt(name), clock.now() + ms))
    },
    resumeAt,
    whenAwake,
    awake: (name) => new Promise((resolve) => whenAwake(name, resolve)),
    clockFor(name) {
      return {
        now: () => clock.now(),
        setTimeout(fn, ms) {
          // One handle for the timer and its postponements, so clearTimeout works throughout.
          const handle: { current: TimerHandle | null } = { current: null }
          const fire = (): void => {
            const at = resumeAt(name)
            if (clock.now() < at) handle.current = clock.setTimeout(fire, at - clock.now())
            else {
              handle.current = null
              fn()
            }
          }
          handle.current = clock.setTimeout(fire, ms)
          return handle as unknown as TimerHandle
        },
        clearTimeout(h) {
          const handle = h as unknown as { current: TimerHandle | null }
          if (handle.current !== null) clock.clearTimeout(handle.current)
          handle.current = null
        },
      }
    },
  }
}
