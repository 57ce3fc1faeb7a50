/**
 * CPU profile of one worker of a 3-worker loopback cluster while clients write with 64 requests
 * in flight (the `pnpm bench peers` throughput workload). Prints self time by function and
 * inclusive time by package/file, and writes the `.cpuprofile` (open it in Chrome DevTools).
 *
 *   node --conditions=source --import ./scripts/polyfill.mjs --import tsx bench/lib/prof-writes.ts
 *
 * Knobs (env): PROF_MS (default 10000), PROF_DIR (default a temp dir, kept), PROF_NODES (default 3),
 * PROF_RATE (writes/s in an open loop instead of 64 in flight; default unset), PROF_ROOT (another
 * built checkout whose compiled CLI all workers run, for a before/after; default this one).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../../test/helpers/process.js'
import { agent, postJson } from './http.js'
import { closedLoop, openLoop, sleep } from './load.js'
import { patinaCommand, startProcessCluster } from './procs.js'
import { percentile } from './report.js'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

const where = (url: string): string | null => {
  const nm = url.split('/node_modules/')
  if (nm.length > 1) {
    const parts = (nm[nm.length - 1] as string).split('/')
    return parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1]}` : (parts[0] ?? null)
  }
  const i = url.indexOf('/packages/')
  return i >= 0 ? url.slice(i + 1) : null
}

export function summarize(profile: Profile, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const self = new Map<string, number>()
  const incl = new Map<string, number>()
  let total = 0
  profile.samples.forEach((s, i) => {
    const d = profile.timeDeltas[i] ?? 0
    total += d
    const n = byId.get(s) as ProfileNode
    const cf = n.callFrame
    const key = `${cf.functionName || '(anonymous)'} ${where(cf.url) ?? cf.url.split('/').pop() ?? ''}:${cf.lineNumber}`
    self.set(key, (self.get(key) ?? 0) + d)
    const seen = new Set<string>()
    for (let x: number | undefined = s; x !== undefined; x = parent.get(x)) {
      const w = where((byId.get(x) as ProfileNode).callFrame.url)
      if (w !== null && !seen.has(w)) {
        seen.add(w)
        incl.set(w, (incl.get(w) ?? 0) + d)
      }
    }
  })
  const pct = (v: number) => `${((v / total) * 100).toFixed(1).padStart(5)} %`
  const lines = [`sampled ${(total / 1e6).toFixed(1)} s`, '', 'self time:']
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(v)}  ${k}`)
  lines.push('', 'inclusive, by package or file:')
  for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(v)}  ${k}`)
  return lines.join('\n')
}

async function main(): Promise<void> {
  const ms = Number(process.env['PROF_MS'] ?? 10_000)
  const dir = process.env['PROF_DIR'] ?? mkdtempSync(join(tmpdir(), 'patina-prof-'))
  const nodes = Number(process.env['PROF_NODES'] ?? 3)
  const rate = process.env['PROF_RATE'] === undefined ? null : Number(process.env['PROF_RATE'])
  const root = process.env['PROF_ROOT']
  const command = (args: string[] = []) =>
    root === undefined
      ? patinaCommand(args)
      : [process.execPath, ...args, join(root, 'packages/node/bin/patina.js')]
  const c = await startProcessCluster(nodes, 'CREATE TABLE kv (k TEXT NOT NULL PRIMARY KEY, v TEXT);', '', {
    command: command(),
  })
  const w0 = c.workers[0]!
  await w0.signal('SIGTERM')
  const [cmd, ...args] = command(['--cpu-prof', `--cpu-prof-dir=${dir}`])
  const child = spawn(cmd as string, [...args, '-c', w0.configPath, 'agent'], { cwd: ROOT, stdio: 'ignore' })
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${w0.apiUrl}/v1/cluster/members`)).status === 200) break
      } catch {
        /* not up yet */
      }
      if (i > 600) throw new Error('profiled worker did not start')
      await sleep(100)
    }
    await sleep(3000)
    const urls = c.workers.map((w) => w.apiUrl)
    const http = agent(64)
    const write = (op: number) =>
      postJson(http, `${urls[op % nodes]}/v1/transactions`, [
        ['INSERT INTO kv (k, v) VALUES (?, ?)', [`k${op}`, 'x'.repeat(60)]],
      ]).then(() => undefined)
    if (rate === null) {
      const r = await closedLoop(64, ms, write)
      console.log(
        `writes/s ${(r.done / r.secs).toFixed(0)}, request p50 ${percentile(r.lat, 50).toFixed(1)} ms, p99 ${percentile(r.lat, 99).toFixed(1)} ms`,
      )
    } else {
      const lat: number[] = []
      await openLoop(Math.round((rate * ms) / 1000), rate, async (op) => {
        const s = performance.now()
        await write(op)
        lat.push(performance.now() - s)
      })
      console.log(
        `${rate} writes/s offered, request p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms`,
      )
    }
    await http.close()
  } finally {
    child.kill('SIGTERM')
    await new Promise((res) => child.once('exit', res))
    await c.stop()
  }
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => readFileSync(b).length - readFileSync(a).length)[0]
  if (file === undefined) throw new Error(`no profile in ${dir}`)
  console.log(`profile: ${file}\n`)
  console.log(summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile))
}

if (process.argv[1]?.endsWith('prof-writes.ts') === true) await main()
