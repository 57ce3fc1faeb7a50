import { describe, expect, it } from 'vitest'
import pino from 'pino'
import { Registry } from 'prom-client'
import { createStateEngine, type Changeset } from '@patina/core'
import { createVirtualClock } from '../../src/runtime/clock.js'
import { createApplyQueue } from '../../src/broadcast/apply-queue.js'
import { clusterMetrics } from '../../src/runtime/metrics.js'
import { SCHEMA, metricValue } from '../helpers.js'

describe('apply queue', () => {
  const logger = pino({ level: 'silent' })
  const makeChangesets = (n: number): Changeset[] => {
    const src = createStateEngine({ path: ':memory:', schema: SCHEMA })
    const out: Changeset[] = []
    for (let i = 0; i < n; i++)
      out.push(
        ...src.transaction([{ sql: 'INSERT INTO kv (k, v) VALUES (?, ?)', params: [i, 'x'] }]).changesets,
      )
    src.close()
    return out
  }

  it('applies many changesets per engine.apply call', async () => {
    const clock = createVirtualClock()
    const engine = createStateEngine({ path: ':memory:', schema: SCHEMA })
    const registry = new Registry()
    const queue = createApplyQueue(
      { engine, logger, metrics: clusterMetrics(registry), clock },
      {
        maxQueueChangesets: 1000,
        maxQueueBytes: 1 << 30,
        maxBatchChangesets: 50,
        maxBatchBytes: 1 << 30,
        batchDelayMs: 0,
      },
    )
    const css = makeChangesets(200)
    queue.push(css.map((cs) => ({ cs, bytes: 100, source: 'gossip' as const })))
    await clock.advance(100)
    await queue.drained()
    expect([...engine.query('SELECT count(*) FROM kv').rows][0]?.[0]).toBe(200)
    expect(await metricValue(registry, 'patina_apply_batches_total')).toBe(4)
    engine.close()
  })

  it('drops the oldest gossip entries on overflow (counted), while sync pushes wait for room', async () => {
    const clock = createVirtualClock()
    const engine = createStateEngine({ path: ':memory:', schema: SCHEMA })
    const registry = new Registry()
    const queue = createApplyQueue(
      { engine, logger, metrics: clusterMetrics(registry), clock },
      {
        maxQueueChangesets: 10,
        maxQueueBytes: 1 << 30,
        maxBatchChangesets: 5,
        maxBatchBytes: 1 << 30,
        batchDelayMs: 10,
      },
    )
    const dropped: number[] = []
    queue.onDrop((i) => dropped.push(i.cs.kind === 'full' ? i.cs.version : -1))
    const css = makeChangesets(30)
    queue.push(css.slice(0, 15).map((cs) => ({ cs, bytes: 1, source: 'gossip' as const })))
    expect(queue.size()).toBe(10)
    expect(dropped).toEqual([1, 2, 3, 4, 5])
    expect(await metricValue(registry, 'patina_apply_queue_dropped_total')).toBe(5)
    let pushed = false
    const waiting = queue
      .pushWait(css.slice(15).map((cs) => ({ cs, bytes: 1, source: 'sync' as const })))
      .then(() => (pushed = true))
    await new Promise((r) => setImmediate(r))
    expect(pushed).toBe(false)
    await clock.advance(100)
    await waiting
    await clock.advance(100)
    await queue.drained()
    expect([...engine.query('SELECT count(*) FROM kv').rows][0]?.[0]).toBe(25)
    engine.close()
  })
})
