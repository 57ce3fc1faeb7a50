import { describe, expect, it } from 'vitest'
import { runSeed, type FuzzResult } from './run.js'

/**
 * Differential fuzzing of live subscriptions (see `run.ts`). CI runs `SEEDS` seeds; a
 * nightly-size run is selected with environment variables (docs/reliability.md):
 *
 *   PATINA_SUBS_FUZZ_SEEDS=400 PATINA_SUBS_FUZZ_STEPS=300 pnpm exec vitest run --project node packages/node/test/subs/fuzz
 *
 * `PATINA_SUBS_FUZZ_SEED=<n>` starts at seed n (reproduce a failure with SEEDS=1).
 */
const env = process.env
const SEEDS = Number(env['PATINA_SUBS_FUZZ_SEEDS'] ?? 40)
const FIRST = Number(env['PATINA_SUBS_FUZZ_SEED'] ?? 1)
const STEPS = Number(env['PATINA_SUBS_FUZZ_STEPS'] ?? 60)
const QUERIES = Number(env['PATINA_SUBS_FUZZ_QUERIES'] ?? 14)

describe('subscriptions, differential fuzzing', () => {
  it(
    `${SEEDS} seeds: every accepted query's events rebuild its result on every node; refusals are counted by reason`,
    async () => {
      const results: FuzzResult[] = []
      for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
        results.push(await runSeed(seed, { nodes: 3, queries: QUERIES, steps: STEPS }))
      }
      const sum = (pick: (r: FuzzResult) => Record<string, number>): Record<string, number> => {
        const out: Record<string, number> = {}
        for (const r of results) for (const [k, v] of Object.entries(pick(r))) out[k] = (out[k] ?? 0) + v
        return Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1]))
      }
      const summary = {
        seeds: `${FIRST}..${FIRST + SEEDS - 1}`,
        checks: results.reduce((n, r) => n + r.stats.checks, 0),
        events: results.reduce((n, r) => n + r.stats.events, 0),
        writes: {
          ok: results.reduce((n, r) => n + r.stats.writes.ok, 0),
          failed: results.reduce((n, r) => n + r.stats.writes.failed, 0),
        },
        accepted: sum((r) => r.stats.accepted),
        refused: sum((r) => r.stats.refused),
        ended: sum((r) => r.stats.ended),
      }
      console.log('subscription fuzz:', JSON.stringify(summary, null, 1))
      // One line per failing query (the first failure of each), and how many there were.
      const failures = [
        ...new Map(results.flatMap((r) => r.failures).map((f) => [f.split(':')[0], f])).values(),
      ]
      expect({ count: failures.length, first: failures.slice(0, 12) }).toEqual({ count: 0, first: [] })
      // The run exercised both kinds of maintenance and the refusals.
      expect(Object.keys(summary.accepted).some((k) => k.startsWith('incremental'))).toBe(true)
      expect(Object.keys(summary.accepted).some((k) => k.startsWith('rerun'))).toBe(true)
      expect(summary.checks).toBeGreaterThan(SEEDS * 10)
    },
    Math.max(120_000, SEEDS * 20_000),
  )
})
