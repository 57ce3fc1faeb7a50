/** Load generators shared by the benchmarks. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * Closed loop: `inFlight` concurrent loops call `fn` until `ms` have passed (or `maxOps`
 * calls were started). Returns the completed count, the elapsed seconds and each call's latency (ms).
 */
export async function closedLoop(
  inFlight: number,
  ms: number,
  fn: (op: number) => Promise<void>,
  maxOps = Infinity,
): Promise<{ done: number; secs: number; lat: number[] }> {
  const lat: number[] = []
  let done = 0
  let started = 0
  const t0 = performance.now()
  const stopAt = t0 + ms
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < stopAt && started < maxOps) {
        const op = started++
        const s = performance.now()
        await fn(op)
        lat.push(performance.now() - s)
        done++
      }
    }),
  )
  return { done, secs: (performance.now() - t0) / 1000, lat }
}

/** Open loop: call `fn(i)` for i in [0, n) at `ratePerSec`, without waiting for completions; then await them all. */
export async function openLoop(
  n: number,
  ratePerSec: number,
  fn: (i: number) => Promise<unknown>,
): Promise<void> {
  const pending: Promise<unknown>[] = []
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const wait = t0 + (i * 1000) / ratePerSec - performance.now()
    if (wait > 0) await sleep(wait)
    pending.push(fn(i))
  }
  await Promise.all(pending)
}

/** Wait until `done()` or `ms` have passed; returns whether `done()` became true. */
export async function waitFor(done: () => boolean, ms: number, stepMs = 20): Promise<boolean> {
  const deadline = performance.now() + ms
  while (!done()) {
    if (performance.now() > deadline) return false
    await sleep(stepMs)
  }
  return true
}
