/**
 * The campaign checker on the in-memory simulated network: 3–5 nodes (real state engines and
 * the real cluster code: membership, broadcast, apply queue, anti-entropy sync) on
 * `createMemoryNetwork` under a virtual clock, with seeded message loss, duplication and
 * reordering, two-way and one-way partitions and isolated ("paused") nodes, running the same
 * workload as the multi-process campaign. Deterministic per seed, a few tens of ms each.
 *
 * Checks after healing: every node holds identical rows, compared exactly in SQL (storage class
 * and value of every cell, over tables of every column kind written with literals of every
 * class); every acknowledged version is applied
 * everywhere with no gaps left; the rows equal the reference model (`model.ts`) applied to every
 * changeset the history produced; the history checks of `history.ts` hold.
 */
import { createRequire } from 'node:module'
import {
  createCluster,
  createLogger,
  createMemoryNetwork,
  createVirtualClock,
  PRESETS,
  type Cluster,
} from '@patina/node'
import { createStateEngine, type FullChangeset, type StateEngine } from '@patina/core'
import { checkHistory, minimalHistory, type Row, type Violation, type WriteRecord } from './history.js'
import { modelKv } from './model.js'
import {
  between,
  CHAOS_QUERY,
  CHAOS_SCHEMA,
  EXACT_QUERIES,
  makeOp,
  pick,
  rng,
  stepSql,
  typedOp,
} from './workload.js'

type ClusterDeps = Parameters<typeof createCluster>[0]
type Registry = ClusterDeps['registry']

// prom-client is a dependency of @patina/node, not of the test package: load the same copy.
const nodeRequire = createRequire(new URL('../../../packages/node/package.json', import.meta.url))
const { Registry: RegistryCtor } = nodeRequire('prom-client') as { Registry: new () => Registry }
const logger = createLogger({ format: 'json', level: 'silent', colors: false }, { destination: 2 })

export interface SimScenario {
  seed: number
  nodes: number
  writes: number
  keys: number
  dropRate: number
  duplicateRate: number
  maxDelayMs: number
  /** Fault windows during the workload. */
  faults: ('partition' | 'one-way' | 'isolate')[]
}

export function scenarioFor(seed: number): SimScenario {
  const r = rng(seed ^ 0x51a)
  const faults: SimScenario['faults'] = []
  for (let i = between(r, 0, 3); i > 0; i--)
    faults.push(pick(r, ['partition', 'one-way', 'isolate'] as const))
  return {
    seed,
    nodes: between(r, 3, 4),
    writes: between(r, 8, 30),
    keys: between(r, 3, 12),
    dropRate: r() * 0.3,
    duplicateRate: r() * 0.2,
    maxDelayMs: between(r, 1, 80),
    faults,
  }
}

export interface SimResult {
  scenario: SimScenario
  violations: Violation[]
  history: string[]
  acknowledged: number
  changesets: number
}

interface SimNode {
  name: string
  engine: StateEngine
  cluster: Cluster
}

const dumpOf = (e: StateEngine): Row[] =>
  [...e.query(`${CHAOS_QUERY} ORDER BY k`).rows].map((r) => ({
    k: Number(r[0]),
    a: r[1] as string | null,
    b: r[2] as string | null,
    n: Number(r[3]),
  }))

/** Every table of a node, each row one string of exact cells (`workload.ts`, EXACT_QUERIES). */
const exactOf = (e: StateEngine): string =>
  EXACT_QUERIES.flatMap((sql) => [...e.query(sql).rows].map((r) => String(r[0]))).join('\n')

/**
 * Run one scenario. `sabotage` (for the checker's own tests) runs after healing and may break
 * a node, to show that the checks catch it.
 */
export async function simulate(
  s: SimScenario,
  sabotage?: (nodes: { name: string; engine: StateEngine }[]) => void,
): Promise<SimResult> {
  // every timer of one instant, then the work they started: a few tens of ms per scenario
  const clock = createVirtualClock({ step: 'instant' })
  const net = createMemoryNetwork({
    seed: s.seed,
    clock,
    faults: { dropRate: s.dropRate, duplicateRate: s.duplicateRate, minDelayMs: 1, maxDelayMs: s.maxDelayMs },
  })
  const r = rng(s.seed ^ 0x5eed)
  const nodes: SimNode[] = []
  const violations: Violation[] = []
  const writes: WriteRecord[] = []
  const produced: FullChangeset[] = []
  /** Versions of the typed-table writes (not in the kv history): they must be everywhere too. */
  const typedAcked: (readonly [string, number])[] = []
  try {
    for (let i = 0; i < s.nodes; i++) {
      const name = `n${i}`
      const engine = createStateEngine({ path: ':memory:', schema: CHAOS_SCHEMA })
      const cluster = createCluster(
        {
          engine,
          transport: net.newTransport(name),
          logger,
          registry: new RegistryCtor(),
          clock,
          random: net.random,
        },
        { preset: PRESETS.test, clusterId: 'sim', bootstrap: i === 0 ? [] : [`n${between(r, 0, i - 1)}`] },
      )
      nodes.push({ name, engine, cluster })
    }
    for (const n of nodes) await n.cluster.start()
    await clock.advance(1500)

    const names = nodes.map((n) => n.name)
    // fault windows: [start write, end write)
    const windows = s.faults.map((kind) => {
      const a = between(r, 0, s.writes - 1)
      return { kind, from: a, to: between(r, a + 1, s.writes) }
    })
    let tick = 0
    for (let i = 0; i < s.writes; i++) {
      for (const w of windows) {
        if (w.from === i) {
          if (w.kind === 'isolate') {
            const victim = names[between(r, 0, names.length - 1)] as string
            net.partition(
              [victim],
              names.filter((x) => x !== victim),
            )
          } else {
            const shuffled = [...names].sort(() => r() - 0.5)
            const cut = between(r, 1, names.length - 1)
            net.partition(shuffled.slice(0, cut), shuffled.slice(cut), { oneWay: w.kind === 'one-way' })
          }
        }
        if (w.to === i) net.heal()
      }
      const op = makeOp(s.seed, i, { workers: s.nodes, keys: s.keys })
      const node = nodes[op.worker] as SimNode
      const issuedAt = ++tick
      try {
        const res = node.engine.transaction(op.steps.map(stepSql).map(([sql, params]) => ({ sql, params })))
        node.cluster.publishLocal(res.changesets)
        produced.push(...res.changesets)
        writes.push({
          op,
          workerName: node.name,
          issuedAt,
          answeredAt: ++tick,
          outcome: {
            status: 'ok',
            actor: res.actorId,
            version: res.version,
            rowsAffected: res.results.map((x) => x.rowsAffected),
          },
        })
      } catch (err) {
        writes.push({
          op,
          workerName: node.name,
          issuedAt,
          answeredAt: ++tick,
          outcome: { status: 'failed', error: String(err) },
        })
      }
      const typed = typedOp(s.seed, i, s.nodes)
      const tnode = nodes[typed.worker] as SimNode
      try {
        const res = tnode.engine.transaction(typed.sql.map((sql) => ({ sql })))
        tnode.cluster.publishLocal(res.changesets)
        if (res.version !== null) typedAcked.push([res.actorId, res.version])
      } catch {
        // a literal a STRICT column refuses: the transaction fails on its node, nothing to check
      }
      await clock.advance(between(r, 0, 60))
    }
    net.heal()

    const acked = [
      ...writes.flatMap((w) =>
        w.outcome.status === 'ok' && w.outcome.version !== null
          ? [[w.outcome.actor, w.outcome.version] as const]
          : [],
      ),
      ...typedAcked,
    ]
    const settled = (): boolean => {
      const first = exactOf((nodes[0] as SimNode).engine)
      return nodes.every(
        (n) =>
          exactOf(n.engine) === first &&
          n.engine.stats().gaps === 0 &&
          n.engine.stats().partials === 0 &&
          acked.every(([a, v]) => n.engine.contains(a, v)),
      )
    }
    let ok = false
    for (let t = 0; t < 120_000 && !ok; t += 250) {
      await clock.advance(250)
      ok = settled()
    }
    sabotage?.(nodes)
    if (sabotage !== undefined) ok = settled()

    const dumps = nodes.map((n) => dumpOf(n.engine))
    const final = dumps[0] as Row[]
    if (!ok) {
      for (const n of nodes) {
        const missing = acked.filter(([a, v]) => !n.engine.contains(a, v))
        if (missing.length > 0)
          violations.push({
            kind: 'missing-version',
            detail: `${n.name} lacks ${missing.length} acknowledged versions (gaps ${n.engine.stats().gaps})`,
            keys: [],
          })
      }
      const exact = nodes.map((n) => exactOf(n.engine))
      exact.forEach((d, i) => {
        if (d === exact[0]) return
        const theirs = new Set((exact[0] as string).split('\n'))
        const differing = d.split('\n').filter((row) => !theirs.has(row))
        violations.push({
          kind: 'divergence',
          detail: `${names[i]} differs from ${names[0]} (exact cells), e.g. ${differing.slice(0, 3).join('; ')}`,
          keys: (dumps[i] as Row[]).map((x) => x.k),
        })
      })
    }
    const expected = modelKv(produced)
    dumps.forEach((d, i) => {
      if (JSON.stringify(d) !== JSON.stringify(expected)) {
        const mine = new Map(d.map((x) => [x.k, JSON.stringify(x)]))
        const want = new Map(expected.map((x) => [x.k, JSON.stringify(x)]))
        const keys = [...new Set([...mine.keys(), ...want.keys()])].filter((k) => mine.get(k) !== want.get(k))
        violations.push({
          kind: 'model',
          detail: `${names[i]} differs from the reference model on ${keys
            .slice(0, 5)
            .map((k) => `k=${k}: have ${mine.get(k) ?? 'none'}, model ${want.get(k) ?? 'none'}`)
            .join('; ')}`,
          keys,
        })
      }
    })
    violations.push(...checkHistory(writes, final))
    return {
      scenario: s,
      violations,
      history:
        violations.length > 0 ? minimalHistory(writes, [...new Set(violations.flatMap((v) => v.keys))]) : [],
      acknowledged: acked.length,
      changesets: produced.length,
    }
  } finally {
    await Promise.all([...nodes.map((n) => n.cluster.stop().catch(() => undefined)), clock.advance(5000)])
    for (const n of nodes) n.engine.close()
  }
}
