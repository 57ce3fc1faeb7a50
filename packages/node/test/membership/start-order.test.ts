/**
 * Issue 14: a cluster forms whatever the start order. Three- and five-node clusters with
 * every bootstrap topology (everyone lists the seed; a chain; a reverse chain; every node
 * lists only one other) started in every order (seed first, seed last, all at once, random
 * with pauses), on the in-memory network under virtual time, over several seeds each. Every
 * node writes as soon as it starts, before it has met anyone. Each run must end as one cluster
 * with every write on every node within BOUND_MS of the last start.
 *
 * Replay one run: PATINA_FORMATION='{"n":5,"topology":"chain","order":"seed-last","seed":7}'
 * More seeds:     PATINA_FORMATION_SEEDS=<count per combination>
 */
import { describe, expect, it } from 'vitest'
import { runFormation, type Formation, type StartOrder, type Topology } from './formation.js'

/**
 * Test preset: bootstrap retries back off to 2 s (±20 %), so a node that started before its
 * bootstrap peer reaches it within ~2.4 s of that peer starting; then push-pull, a sync round
 * and gossip take well under a second.
 */
const BOUND_MS = 10_000

const TOPOLOGIES: Topology[] = ['star', 'chain', 'reverse-chain', 'one-other']
const ORDERS: StartOrder[] = ['seed-first', 'seed-last', 'all-at-once', 'random']
const seedsPer = Number(process.env['PATINA_FORMATION_SEEDS'] ?? 2)

const single = process.env['PATINA_FORMATION']
const runs: Formation[] =
  single !== undefined
    ? [JSON.parse(single) as Formation]
    : [3, 5].flatMap((n) =>
        TOPOLOGIES.flatMap((topology) =>
          ORDERS.flatMap((order) =>
            Array.from({ length: seedsPer }, (_, s) => ({ n, topology, order, seed: 1 + s * 101 + n })),
          ),
        ),
      )

describe('cluster formation in every start order (in-memory network)', () => {
  const times: number[] = []

  it.each(runs.map((f) => [`${f.n} nodes, ${f.topology}, ${f.order}, seed ${f.seed}`, f] as const))(
    '%s: one cluster, every write everywhere',
    async (_label, f) => {
      const res = await runFormation(f, BOUND_MS)
      expect(
        res.formedAfterMs,
        `did not form within ${BOUND_MS} ms; replay with PATINA_FORMATION='${JSON.stringify(f)}'\n${res.detail}`,
      ).not.toBeNull()
      times.push(res.formedAfterMs as number)
    },
  )

  it('reports the time to form', () => {
    const sorted = [...times].sort((a, b) => a - b)
    const at = (q: number): number =>
      Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0)
    process.stderr.write(
      `[formation] ${sorted.length} runs: formed after p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms of virtual time after the last start\n`,
    )
    expect(sorted.length).toBe(runs.length)
  })
})
