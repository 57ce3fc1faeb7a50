/**
 * The campaign checker on the in-memory simulated network, for many seeds: real engines and
 * cluster code, seeded loss, duplication, reordering, partitions (two-way, one-way) and
 * isolated nodes, the campaign workload, then: identical replicas, every acknowledged version
 * applied everywhere, rows equal to the reference model of the merge rules over the whole
 * history, and the history checks (see lib/sim.ts).
 *
 * Replay one seed: PATINA_CHAOS_SIM_SEED=<seed> pnpm exec vitest run --project chaos simulation
 * More seeds:      PATINA_CHAOS_SIM_SEEDS=<count> ...
 */
import { describe, expect, it } from 'vitest'
import { scenarioFor, simulate } from './lib/sim.js'

const single = process.env['PATINA_CHAOS_SIM_SEED']
const count = Number(process.env['PATINA_CHAOS_SIM_SEEDS'] ?? 2000)
const first = Number(process.env['PATINA_CHAOS_SIM_FIRST'] ?? 1)
/**
 * Wall-clock budget: seeds run in order (a deterministic prefix of the list) until `count` are
 * done or the budget is spent (the machine is shared), and never fewer than MIN_SEEDS. The
 * number run is printed. Nothing is asserted about time. PATINA_CHAOS_SIM_BUDGET_MS=0: no budget.
 */
const budgetMs = Number(process.env['PATINA_CHAOS_SIM_BUDGET_MS'] ?? 35_000)
const MIN_SEEDS = 200

describe('fault campaign (in-memory simulation, many seeds)', () => {
  it(`${single !== undefined ? `seed ${single}` : `${count} seeds from ${first}`}: replicas converge to the reference model`, async () => {
    const seeds = single !== undefined ? [Number(single)] : Array.from({ length: count }, (_, i) => first + i)
    let acknowledged = 0
    let ran = 0
    const deadline = Date.now() + budgetMs
    for (const seed of seeds) {
      if (budgetMs > 0 && ran >= MIN_SEEDS && Date.now() > deadline) break
      ran++
      const res = await simulate(scenarioFor(seed))
      acknowledged += res.acknowledged
      if (res.violations.length > 0) {
        const text = [
          `seed ${seed} failed (${JSON.stringify(res.scenario)}); replay with PATINA_CHAOS_SIM_SEED=${seed}`,
          ...res.violations.map((v) => `  ✗ ${v.kind}: ${v.detail}`),
          ...res.history.map((l) => `  ${l}`),
        ].join('\n')
        expect.fail(text)
      }
    }
    process.stderr.write(
      `[chaos-sim] ${ran} seeds from ${seeds[0]} (of ${seeds.length}), ${acknowledged} acknowledged writes, no violation\n`,
    )
    expect(acknowledged).toBeGreaterThan(ran * 5)
  }, 600_000)

  it('the checks catch a replica changed behind the cluster’s back', async () => {
    const res = await simulate(scenarioFor(3), (nodes) => {
      // a write that is never broadcast: its node now disagrees with the others and the model
      nodes[1]?.engine.transaction([
        { sql: 'INSERT OR REPLACE INTO kv (k, a) VALUES (999, ?)', params: ['rogue'] },
      ])
    })
    const kinds = new Set(res.violations.map((v) => v.kind))
    expect(kinds.has('divergence')).toBe(true)
    expect(kinds.has('model')).toBe(true)
  })

  it('the checks catch replicas that differ only in a storage class (INTEGER 5 against REAL 5.0), which JSON cannot show', async () => {
    const res = await simulate(scenarioFor(3), (nodes) => {
      // writes never broadcast: the same row everywhere, the cell INTEGER on one node, REAL on the others
      nodes.forEach((n, i) =>
        n.engine.transaction([
          { sql: `INSERT OR REPLACE INTO typed (k, u) VALUES (424242, ${i === 1 ? '5' : '5.0'})` },
        ]),
      )
      const json = nodes.map((n) =>
        JSON.stringify([...n.engine.query('SELECT u FROM typed WHERE k = 424242').rows]),
      )
      expect(new Set(json).size).toBe(1)
    })
    const divergence = res.violations.filter((v) => v.kind === 'divergence')
    expect(divergence.map((v) => v.detail)).toEqual([
      expect.stringMatching(
        /n1 differs from n0 \(exact cells\), e\.g\. typed: integer:424242 \| integer:5 \|/,
      ),
    ])
  })
})
