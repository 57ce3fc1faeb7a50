import pino from 'pino'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createStateEngine } from '@patina/core'
import { createCluster } from '../../src/runtime/cluster.js'
import { PRESETS } from '../../src/config/presets.js'
import { createMemoryNetwork } from '../../src/transport/memory.js'
import { createVirtualClock } from '../../src/runtime/clock.js'
import { metricValue } from '../helpers.js'

/**
 * Issue 12, item 4 at the cluster level: a version one node cannot apply (here: it names a table
 * that node's schema lacks) is refused alone, logged once with its reason, counted, held back
 * (sync rounds do not fetch and fail it again), and the rest of replication goes on. It applies
 * once the schema catches up.
 */
describe('a version a node refuses', () => {
  it('is logged once with its reason, not retried every sync round, and the rest of replication goes on', async () => {
    const clock = createVirtualClock()
    const net = createMemoryNetwork({ seed: 12, clock, faults: { minDelayMs: 1, maxDelayMs: 5 } })
    const base = 'CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT);'
    const wider = base + ' CREATE TABLE extra (id INTEGER PRIMARY KEY, note TEXT);'
    const lines: Record<string, unknown>[] = []
    const logger = pino(
      { level: 'debug' },
      { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
    )
    const node = (name: string, schema: string, bootstrap: string[]) => {
      const engine = createStateEngine({ path: ':memory:', schema, clock: { now: () => clock.now() } })
      const registry = new Registry()
      const cluster = createCluster(
        { engine, transport: net.newTransport(name), logger: logger.child({ node: name }), registry, clock },
        { preset: PRESETS.test, clusterId: 'test', bootstrap },
      )
      return { engine, cluster, registry }
    }
    const a = node('a', wider, [])
    const b = node('b', base, ['a'])
    try {
      await a.cluster.start()
      await b.cluster.start()
      await clock.advance(2000)
      const w1 = a.engine.transaction([
        { sql: "INSERT INTO extra VALUES (1, 'only where the table exists')" },
      ])
      a.cluster.publishLocal(w1.changesets)
      const w2 = a.engine.transaction([{ sql: "INSERT INTO kv VALUES (1, 'everywhere')" }])
      a.cluster.publishLocal(w2.changesets)
      // many sync rounds (test preset: 0.2–2 s), less than the first retry (60 s)
      await clock.advance(30_000)
      expect([...b.engine.query('SELECT k, v FROM kv').rows]).toEqual([[1, 'everywhere']])
      expect(b.engine.refused()).toMatchObject([
        { actorId: a.engine.actorId, version: 1, code: 'PATINA_ERR_UNKNOWN_TABLE', attempts: 1 },
      ])
      const warned = lines.filter(
        (l) => l['msg'] === 'version refused: held back and retried later (see sync status)',
      )
      expect(warned).toHaveLength(1)
      expect(warned[0]).toMatchObject({ node: 'b', version: 1, code: 'PATINA_ERR_UNKNOWN_TABLE' })
      expect(String(warned[0]?.['reason'])).toMatch(/unknown table "extra"/)
      expect(await metricValue(b.registry, 'patina_apply_errors_total')).toBe(1)
      expect(await metricValue(b.registry, 'patina_apply_refused_versions')).toBe(1)
      expect(b.engine.stats()).toMatchObject({ gaps: 1, refused: 1 })
      // writes keep flowing both ways
      const w3 = b.engine.transaction([{ sql: "INSERT INTO kv VALUES (2, 'from b')" }])
      b.cluster.publishLocal(w3.changesets)
      await clock.advance(5000)
      expect([...a.engine.query('SELECT k FROM kv ORDER BY k').rows]).toEqual([[1], [2]])
      // the schema catches up: the held version is asked for at the next round and applies
      b.engine.applySchema(wider)
      await clock.advance(5000)
      expect([...b.engine.query('SELECT id, note FROM extra').rows]).toEqual([
        [1, 'only where the table exists'],
      ])
      expect(b.engine.stats()).toMatchObject({ gaps: 0, refused: 0 })
      expect(lines.filter((l) => l['msg']?.toString().startsWith('version refused'))).toHaveLength(1)
    } finally {
      await Promise.all([a.cluster.stop(), b.cluster.stop(), clock.advance(10_000)])
      a.engine.close()
      b.engine.close()
    }
  })
})
