import pino from 'pino'
import { Registry } from 'prom-client'
import { createStateEngine, type StateEngine } from '@patina/core'
import { createCluster, type Cluster, type ClusterOptions } from '../src/runtime/cluster.js'
import { PRESETS } from '../src/config/presets.js'
import type { Transport } from '../src/transport/transport.js'
import type { ClusterClock, RandomSource } from '../src/runtime/clock.js'
import type { Resolver } from '../src/membership/resolve.js'

export const SCHEMA = 'CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT, n INTEGER NOT NULL DEFAULT 0);'

export const silentLogger = pino({ level: process.env['PATINA_TEST_LOG'] ?? 'silent' })

export interface TestNode {
  name: string
  engine: StateEngine
  transport: Transport
  cluster: Cluster
  registry: Registry
}

export function makeNode(
  name: string,
  transport: Transport,
  opts: Partial<ClusterOptions> & {
    clock?: ClusterClock
    random?: RandomSource
    path?: string
    /** An engine to reuse (a restart); a new one on `path` otherwise. */
    engine?: StateEngine
    resolve?: Resolver
  },
): TestNode {
  const engine = opts.engine ?? createStateEngine({ path: opts.path ?? ':memory:', schema: SCHEMA })
  const registry = new Registry()
  const { clock, random, resolve, path: _path, engine: _engine, ...clusterOpts } = opts
  const cluster = createCluster(
    {
      engine,
      transport,
      logger: silentLogger.child({ node: name }),
      registry,
      ...(clock !== undefined ? { clock } : {}),
      ...(random !== undefined ? { random } : {}),
      ...(resolve !== undefined ? { resolve } : {}),
    },
    { preset: PRESETS.test, clusterId: 'test', ...clusterOpts },
  )
  return { name, engine, transport, cluster, registry }
}

/** Runs one write transaction on `node` and broadcasts it. */
export function write(node: TestNode, sql: string, params: (string | number | null)[] = []): void {
  const res = node.engine.transaction([{ sql, params }])
  node.cluster.publishLocal(res.changesets)
}

/** Exact cells (storage class and value, in SQL): never JSON, where 5 and 5.0 look alike. */
const cell = (c: string): string =>
  `typeof(${c}) || ':' || CASE typeof(${c}) WHEN 'real' THEN printf('%!.17g', ${c}) ELSE quote(${c}) END`

/** The rows of `kv`, one string of exact cells each, in key order. */
export function dump(engine: StateEngine): string {
  const sql = `SELECT ${['k', 'v', 'n'].map(cell).join(` || ' | ' || `)} FROM kv ORDER BY k`
  return [...engine.query(sql).rows].map((r) => String(r[0])).join('\n')
}

/** Rows in `kv`. */
export function rowCount(engine: StateEngine): number {
  return Number([...engine.query('SELECT count(*) FROM kv').rows][0]?.[0] ?? 0)
}

export function converged(nodes: readonly TestNode[]): boolean {
  const first = dump((nodes[0] as TestNode).engine)
  return nodes.every((n) => dump(n.engine) === first)
}

export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = registry.getSingleMetric(name)
  if (m === undefined) return 0
  const data = await m.get()
  let total = 0
  for (const v of data.values) {
    const l = v.labels as Record<string, string | number>
    if (Object.entries(labels).every(([k, x]) => String(l[k]) === x)) total += v.value
  }
  return total
}

export { waitFor } from '../../../test/helpers/wait.js'
