/**
 * Long fault campaigns against a real multi-process cluster on loopback (5 workers, 2 edges).
 *
 *   pnpm chaos --seed 42 --minutes 10 [--runs 1] [--keep] [--json results.json]
 *
 * `--runs N` runs seeds S, S+1, … one after the other, splitting the minutes between them.
 * Exit code 1 when any run found a violation; the report names the seed and prints the
 * history of the keys involved. The same harness runs briefly in CI (test/chaos).
 */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { formatReport, runCampaign, type CampaignReport } from '../test/chaos/lib/campaign.js'

const USAGE = 'usage: pnpm chaos [--seed <integer>] [--minutes <number>] [--runs N] [--keep] [--json file]'

let values: { seed?: string; minutes?: string; runs?: string; json?: string; keep?: boolean; help?: boolean }
try {
  ;({ values } = parseArgs({
    options: {
      seed: { type: 'string' },
      minutes: { type: 'string' },
      runs: { type: 'string' },
      json: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }))
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`)
  process.exit(2)
}
if (values.help) {
  console.log(USAGE)
  process.exit(0)
}
const seed = Number(values.seed ?? Date.now() % 100_000)
const minutes = Number(values.minutes ?? 10)
const runs = Number(values.runs ?? 1)
if (!Number.isInteger(seed) || !(minutes > 0) || !Number.isInteger(runs) || runs < 1) {
  console.error(USAGE)
  process.exit(2)
}

// Interrupted (Ctrl-C, a timeout): stop the agents and edges this process started, by pid,
// paused ones included, so none is left behind.
const stopChildren = (sig: NodeJS.Signals) => {
  let pids: number[] = []
  try {
    pids = execFileSync('pgrep', ['-P', String(process.pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number)
  } catch {
    // no children
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGCONT')
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  console.error(`chaos: ${sig}, stopped ${pids.length} child process(es)`)
  process.exit(130)
}
process.once('SIGINT', stopChildren)
process.once('SIGTERM', stopChildren)

const reports: CampaignReport[] = []
for (let i = 0; i < runs; i++) {
  const s = seed + i
  console.log(`chaos: seed ${s}, ${(minutes / runs).toFixed(1)} min of faults`)
  const report = await runCampaign({
    seed: s,
    faultMs: (minutes * 60_000) / runs,
    keepDir: values.keep === true,
    log: (l) => console.log(`  [${new Date().toISOString().slice(11, 19)}] ${l}`),
  })
  reports.push(report)
  console.log(formatReport(report))
}
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(reports, null, 2))
const bad = reports.filter((r) => r.violations.length > 0)
console.log(
  bad.length === 0
    ? 'chaos: no violation'
    : `chaos: violations in seeds ${bad.map((r) => r.seed).join(', ')}`,
)
process.exit(bad.length === 0 ? 0 : 1)
