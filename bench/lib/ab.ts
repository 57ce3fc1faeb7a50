/**
 * A/B of Patina builds or settings, side by side in one run: the `pnpm bench peers` workload
 * (throughput at 64 in flight with CPU per write, write → notification at a fixed rate and at max
 * rate) on a cluster of AB_NODES workers, once per variant per round, rounds interleaved
 * (A B A B …) so that the machine's load falls on every variant alike; medians per variant.
 *
 *   node --import ./scripts/polyfill.mjs --import tsx bench/lib/ab.ts
 *
 * AB_VARIANTS: JSON list of `{ name, root?, source?, toml? }`:
 * - `root`: another checkout (built with `pnpm build`) whose compiled CLI the workers run
 *   (e.g. `git archive main | tar -x -C /tmp/base`, `pnpm install --offline`, `pnpm build`);
 *   default this checkout;
 * - `source: true`: run that checkout's TypeScript sources through tsx instead of `dist/`;
 * - `toml`: extra config lines for every worker, appended after the `[log]` table the helper
 *   writes (so only new tables);
 * - `env`: environment of the workers: config keys as `PATINA_GOSSIP__MESH_DEGREE` and so on.
 * Default: this checkout compiled vs its sources.
 * Knobs: AB_NODES (3), AB_ROUNDS (3), BENCH_TPUT_MS, BENCH_LAT_WRITES, BENCH_LAT_RATE, BENCH_READS
 * (those of `bench/peers.ts`).
 */
import { join } from 'node:path'
import { CLI, ROOT } from '../../test/helpers/process.js'
import { measure, patinaSystem, type Result } from '../peers.js'
import { sleep } from './load.js'
import { buildPatina, PATINA_BIN, startProcessCluster } from './procs.js'
import { median, percentile, progress } from './report.js'

interface Variant {
  name: string
  root?: string
  source?: boolean
  toml?: string
  /** Environment of the workers, e.g. `{"PATINA_GOSSIP__MESH_DEGREE": "3"}` (config keys by env). */
  env?: Record<string, string>
}

const NODES = Number(process.env['AB_NODES'] ?? 3)
const ROUNDS = Number(process.env['AB_ROUNDS'] ?? 3)
const VARIANTS: Variant[] = JSON.parse(
  process.env['AB_VARIANTS'] ?? '[{"name":"compiled"},{"name":"source","source":true}]',
) as Variant[]
const SCHEMA = `CREATE TABLE kv (k TEXT NOT NULL PRIMARY KEY, v TEXT);`

function command(v: Variant): string[] {
  const root = v.root ?? ROOT
  if (v.source === true) return [process.execPath, ...CLI.map((a) => a.replaceAll(ROOT, `${root}/`))]
  if (v.root === undefined) buildPatina()
  return [process.execPath, v.root === undefined ? PATINA_BIN : join(root, 'packages/node/bin/patina.js')]
}

async function once(v: Variant, tag: string): Promise<Result> {
  const saved = { ...process.env }
  Object.assign(process.env, v.env ?? {})
  const c = await startProcessCluster(NODES, SCHEMA, v.toml ?? '', { command: command(v) }).finally(() => {
    for (const k of Object.keys(v.env ?? {})) if (!(k in saved)) delete process.env[k]
    Object.assign(process.env, saved)
  })
  const sys = patinaSystem(
    c.workers.map((w) => w.apiUrl),
    c.workers.map((w) => w.pid ?? -1),
  )
  try {
    await sleep(2000)
    return await measure(sys, tag)
  } finally {
    await sys.close()
    await c.stop()
  }
}

const results = new Map<string, Result[]>(VARIANTS.map((v) => [v.name, []]))
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, v] of VARIANTS.entries()) {
    progress(`round ${r + 1}/${ROUNDS}: ${v.name}`)
    try {
      results.get(v.name)?.push(await once(v, `r${r}v${i}`))
    } catch (err) {
      // a loaded machine can fail a write (e.g. a 408 at the main-thread deadline): say so, go on
      progress(`round ${r + 1}: ${v.name} failed: ${(err as Error).message.slice(0, 200)}`)
    }
  }
}
const rows: [string, (x: Result) => number][] = [
  ['writes/s, 64 in flight', (x) => x.tput],
  ['  request p99 (ms)', (x) => x.tputP99],
  ['  CPU of all workers per write (ms)', (x) => x.cpuPerWrite],
  ['  every node has every write after (s)', (x) => x.keepUpSecs ?? NaN],
  ['notify p50, fixed rate (ms)', (x) => percentile(x.fixed, 50)],
  ['notify p99, fixed rate (ms)', (x) => percentile(x.fixed, 99)],
  ['notify p50, max rate (ms)', (x) => percentile(x.max, 50)],
  ['notify p99, max rate (ms)', (x) => percentile(x.max, 99)],
  ['notifications seen', (x) => x.fixedSeen + x.maxSeen],
  ['read p50 (ms)', (x) => percentile(x.read, 50)],
]
const base = VARIANTS[0]?.name as string
const head = [
  'measure (median of rounds)',
  ...VARIANTS.map((v) => v.name),
  ...VARIANTS.slice(1).map((v) => `${v.name}÷${base}`),
]
console.log(
  `${NODES} workers, ${ROUNDS} rounds, load ${(await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
)
console.log(`| ${head.join(' | ')} |`)
console.log(`|${head.map(() => '---').join('|')}|`)
for (const [label, f] of rows) {
  const med = VARIANTS.map((v) => median((results.get(v.name) ?? []).map(f)))
  const b = med[0] as number
  console.log(
    `| ${[label, ...med.map((m) => m.toPrecision(4)), ...med.slice(1).map((m) => (m / b).toFixed(2))].join(' | ')} |`,
  )
}
console.log(
  'per round:',
  JSON.stringify(
    Object.fromEntries(
      [...results].map(([k, xs]) => [
        k,
        xs.map((x) => ({
          tput: Math.round(x.tput),
          cpu: +x.cpuPerWrite.toFixed(3),
          p99: +percentile(x.fixed, 99).toFixed(2),
        })),
      ]),
    ),
  ),
)
