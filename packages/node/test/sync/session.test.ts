import { describe, expect, it } from 'vitest'
import pino from 'pino'
import { Registry } from 'prom-client'
import { createStateEngine } from '@patina/core'
import { createMemoryNetwork } from '../../src/transport/memory.js'
import { createVirtualClock } from '../../src/runtime/clock.js'
import { clusterMetrics } from '../../src/runtime/metrics.js'
import { createApplyQueue } from '../../src/broadcast/apply-queue.js'
import { SYNC_PROTOCOL, createSyncServer, syncWith, type SyncSessionOptions } from '../../src/sync/session.js'
import { SCHEMA, dump } from '../helpers.js'

const logger = pino({ level: 'silent' })
const OPTS: SyncSessionOptions = {
  clusterId: 'test',
  maxFrameBytes: 64 * 1024,
  maxChunkBytes: 1024,
  maxChangesetsPerFrame: 10,
  maxConcurrentServe: 1,
  sessionTimeoutMs: 600_000,
  idleTimeoutMs: 60_000,
}

describe('sync sessions', () => {
  it('streams a backlog in bounded frames with backpressure, and rejects sessions above the concurrency limit', async () => {
    const clock = createVirtualClock()
    const net = createMemoryNetwork({
      seed: 4,
      clock,
      faults: { minDelayMs: 1, maxDelayMs: 3 },
      streamHighWaterFrames: 2,
    })
    const server = createStateEngine({ path: ':memory:', schema: SCHEMA })
    for (let t = 0; t < 100; t++)
      server.transaction([{ sql: 'INSERT INTO kv (k, v) VALUES (?, ?)', params: [t, `v${t}`] }])
    const st = net.newTransport('s')
    await st.start()
    const registry = new Registry()
    const metrics = clusterMetrics(registry)
    const serverQueue = createApplyQueue(
      { engine: server, logger, metrics, clock },
      { maxQueueChangesets: 1, maxQueueBytes: 1, maxBatchChangesets: 1, maxBatchBytes: 1, batchDelayMs: 0 },
    )
    const srv = createSyncServer(
      { engine: server, transport: st, queue: serverQueue, logger, metrics, clock },
      OPTS,
    )
    st.handle(SYNC_PROTOCOL, (s) => srv.handle(s))

    const client = async (name: string) => {
      const engine = createStateEngine({ path: ':memory:', schema: SCHEMA })
      const transport = net.newTransport(name)
      await transport.start()
      const m = clusterMetrics(new Registry())
      // a slow, small apply queue: the client stops reading while it is full
      const queue = createApplyQueue(
        { engine, logger, metrics: m, clock },
        {
          maxQueueChangesets: 5,
          maxQueueBytes: 1 << 20,
          maxBatchChangesets: 5,
          maxBatchBytes: 1 << 20,
          batchDelayMs: 50,
        },
      )
      return { engine, transport, queue }
    }
    const c1 = await client('c1')
    const c2 = await client('c2')
    const p1 = syncWith({ ...c1, logger, metrics: clusterMetrics(new Registry()), clock }, OPTS, 's')
    await clock.advance(20)
    expect(srv.active()).toBe(1)
    const p2 = syncWith({ ...c2, logger, metrics: clusterMetrics(new Registry()), clock }, OPTS, 's')
    await clock.advance(100)
    const r2 = await p2
    expect(r2).toMatchObject({ outcome: 'rejected', reason: 'busy' })
    // the first session is still going: held back by the client's full queue
    expect(srv.active()).toBe(1)
    await clock.advance(10_000)
    const r1 = await p1
    expect(r1).toMatchObject({ outcome: 'ok', changesets: 100 })
    await clock.advance(1000)
    await c1.queue.drained()
    expect(dump(c1.engine)).toBe(dump(server))
    // the rejected client gets everything once the server is free
    const again = syncWith({ ...c2, logger, metrics: clusterMetrics(new Registry()), clock }, OPTS, 's')
    await clock.advance(20_000)
    expect(await again).toMatchObject({ outcome: 'ok', changesets: 100 })
    await clock.advance(1000)
    expect(dump(c2.engine)).toBe(dump(server))
    // a client in sync receives nothing
    const noop = syncWith({ ...c1, logger, metrics: clusterMetrics(new Registry()), clock }, OPTS, 's')
    await clock.advance(1000)
    expect(await noop).toMatchObject({ outcome: 'ok', changesets: 0 })
    for (const e of [server, c1.engine, c2.engine]) e.close()
  })
})
