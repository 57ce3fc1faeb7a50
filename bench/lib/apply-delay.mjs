/* global performance, setTimeout, setInterval, clearInterval */
// push → engine.apply latency of the apply queue when idle (one changeset at a time, a fake engine),
// builds side by side: APPLY_ROOTS='{"main":"/tmp/base","head":"."}' node bench/lib/apply-delay.mjs (after pnpm build)
const keep = setInterval(() => {}, 1000)
import { createRequire } from 'node:module'
const roots = JSON.parse(process.env.APPLY_ROOTS ?? JSON.stringify({ head: process.cwd() }))
const out = {}
for (const _round of [1, 2, 3])
  for (const [name, root] of Object.entries(roots)) {
    const { createApplyQueue } = await import(`${root}/packages/node/dist/broadcast/apply-queue.js`)
    const { clusterMetrics } = await import(`${root}/packages/node/dist/runtime/metrics.js`)
    const { systemClock } = await import(`${root}/packages/node/dist/runtime/clock.js`)
    const req = createRequire(`${root}/packages/node/package.json`)
    const { Registry } = req('prom-client')
    const pino = req('pino')
    let resolveApplied
    const engine = {
      apply() {
        resolveApplied(performance.now())
        return { refused: [] }
      },
      stats: () => ({ refused: 0 }),
    }
    const q = createApplyQueue(
      {
        engine,
        logger: pino({ level: 'silent' }),
        metrics: clusterMetrics(new Registry()),
        clock: systemClock,
      },
      {
        maxQueueChangesets: 1000,
        maxQueueBytes: 1e8,
        maxBatchChangesets: 100,
        maxBatchBytes: 1e7,
        batchDelayMs: 0,
      },
    )
    const lat = []
    for (let i = 0; i < 300; i++) {
      const applied = new Promise((r) => (resolveApplied = r))
      const t = performance.now()
      q.push([{ cs: { kind: 'empty', actorId: 'a', versions: [1, 1], ts: 0 }, bytes: 10, source: 'gossip' }])
      lat.push((await applied) - t)
      await new Promise((r) => setTimeout(r, 2))
    }
    q.stop()
    lat.sort((a, b) => a - b)
    ;(out[name] ??= []).push([lat[150], lat[297]])
  }
console.log('[p50, p99] ms per round:', JSON.stringify(out))
clearInterval(keep)
