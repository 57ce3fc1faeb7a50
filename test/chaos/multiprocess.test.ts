/**
 * A short seeded fault campaign on a real multi-process cluster (5 workers, 2 edges on
 * loopback): SIGKILL/restart, SIGSTOP/SIGCONT, two-way and one-way partitions in the TCP path,
 * wall-clock steps, under a random workload; then heal and check (see lib/campaign.ts).
 *
 * Replay: PATINA_CHAOS_SEED=<seed> pnpm exec vitest run --project chaos multiprocess
 * Long runs: pnpm chaos --seed <seed> --minutes <m>
 */
import { describe, expect, it } from 'vitest'
import { formatReport, runCampaign } from './lib/campaign.js'

const seed = Number(process.env['PATINA_CHAOS_SEED'] ?? 20_240_601)
const faultMs = Number(process.env['PATINA_CHAOS_FAULT_MS'] ?? 20_000)

describe('fault campaign (multi-process, seeded)', () => {
  it(`seed ${seed}: no acknowledged write lost, all replicas, edges and subscriptions agree`, async () => {
    const report = await runCampaign({ seed, faultMs, log: (l) => process.stderr.write(`[chaos] ${l}\n`) })
    const text = formatReport(report)
    process.stderr.write(`${text}\n`)
    // the campaign did something
    expect(report.writes.acknowledged, text).toBeGreaterThan(20)
    expect(
      Object.values(report.faults).reduce((a, b) => a + b, 0),
      text,
    ).toBeGreaterThan(2)
    expect(report.violations, text).toEqual([])
    expect(report.lost).toBe(0)
    expect(report.divergences).toBe(0)
  })
})
