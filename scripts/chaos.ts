/**
 * Long fault campaigns against a real multi-process cluster on loopback (5 workers, 2 edges).
 *
 *   pnpm chaos --seed 42 --minutes 10 [--runs 1] [--keep] [--json results.json]
 *
 * `--runs N` runs seeds S, S+1, … one after the other, splitting the minutes between them.
 * Exit code 1 when any run found a violation; the report names the seed and prints the
 * history of the keys involved. The same harness runs briefly in CI (test/chaos).
 */
import { writeFileSync } from 'node:fs'
import { formatReport, runCampaign, type CampaignReport } from '../test/chaos/lib/campaign.js'

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const seed = Number(arg('seed') ?? Date.now() % 100_000)
const minutes = Number(arg('minutes') ?? 10)
const runs = Math.max(1, Number(arg('runs') ?? 1))
const json = arg('json')
if (!Number.isInteger(seed) || !(minutes > 0)) {
  console.error('usage: pnpm chaos --seed <integer> --minutes <number> [--runs N] [--keep] [--json file]')
  process.exit(2)
}

const reports: CampaignReport[] = []
for (let i = 0; i < runs; i++) {
  const s = seed + i
  console.log(`chaos: seed ${s}, ${(minutes / runs).toFixed(1)} min of faults`)
  const report = await runCampaign({
    seed: s,
    faultMs: (minutes * 60_000) / runs,
    keepDir: process.argv.includes('--keep'),
    log: (l) => console.log(`  [${new Date().toISOString().slice(11, 19)}] ${l}`),
  })
  reports.push(report)
  console.log(formatReport(report))
}
if (json !== undefined) writeFileSync(json, JSON.stringify(reports, null, 2))
const bad = reports.filter((r) => r.violations.length > 0)
console.log(
  bad.length === 0
    ? 'chaos: no violation'
    : `chaos: violations in seeds ${bad.map((r) => r.seed).join(', ')}`,
)
process.exit(bad.length === 0 ? 0 : 1)
