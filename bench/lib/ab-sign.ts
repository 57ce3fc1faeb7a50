/**
 * A/B: signed vs unsigned gossip messages, same cluster size and workload, one run.
 *
 *   node --conditions=source --import ./scripts/polyfill.mjs --import tsx bench/lib/ab-sign.ts
 *
 * Knobs (env): AB_NODES (default 3), AB_RATE (open loop writes/s; default: 64 in flight), AB_MS.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { ROOT } from '../../test/helpers/process.js'
import { agent, postJson } from './http.js'
import { closedLoop, openLoop, sleep } from './load.js'
import { scriptArgs, startProcessCluster } from './procs.js'
import { percentile } from './report.js'

const NODES = Number(process.env['AB_NODES'] ?? 3)
const RATE = process.env['AB_RATE'] === undefined ? null : Number(process.env['AB_RATE'])
const MS = Number(process.env['AB_MS'] ?? 10_000)

async function variant(sign: boolean): Promise<string> {
  // the helper writes configs and picks ports; its processes are replaced by agent-variant ones
  const c = await startProcessCluster(NODES, 'CREATE TABLE kv (k TEXT NOT NULL PRIMARY KEY, v TEXT);')
  await Promise.all(c.workers.map((w) => w.signal('SIGTERM')))
  const children: ChildProcess[] = c.workers.map((w) =>
    spawn(process.execPath, [...scriptArgs('bench/lib/agent-variant.ts'), w.configPath], {
      cwd: ROOT,
      stdio: 'ignore',
      env: { ...process.env, PATINA_SIGN: sign ? '1' : '0' },
    }),
  )
  try {
    for (const w of c.workers) {
      for (let i = 0; ; i++) {
        try {
          if ((await fetch(`${w.apiUrl}/v1/cluster/members`)).status === 200) break
        } catch {
          /* not up yet */
        }
        if (i > 1200) throw new Error('agent did not start')
        await sleep(100)
      }
    }
    await sleep(3000)
    const urls = c.workers.map((w) => w.apiUrl)
    const http = agent(64)
    const write = (op: number) =>
      postJson(http, `${urls[op % NODES]}/v1/transactions`, [
        ['INSERT INTO kv (k, v) VALUES (?, ?)', [`k${op}`, 'x'.repeat(60)]],
      ]).then(() => undefined)
    let line: string
    if (RATE === null) {
      const r = await closedLoop(64, MS, write)
      line = `${(r.done / r.secs).toFixed(0)} writes/s at 64 in flight, p50 ${percentile(r.lat, 50).toFixed(1)} ms, p99 ${percentile(r.lat, 99).toFixed(1)} ms`
    } else {
      const lat: number[] = []
      await openLoop(Math.round((RATE * MS) / 1000), RATE, async (op) => {
        const s = performance.now()
        await write(op)
        lat.push(performance.now() - s)
      })
      line = `${RATE} writes/s offered, request p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms`
    }
    await http.close()
    return `${NODES} nodes, ${sign ? 'signed  ' : 'unsigned'}: ${line}`
  } finally {
    for (const ch of children) ch.kill('SIGTERM')
    await Promise.all(
      children.map((ch) => new Promise((r) => (ch.exitCode !== null ? r(null) : ch.once('exit', r)))),
    )
    await c.stop()
  }
}

if (process.argv[1]?.endsWith('ab-sign.ts') === true) {
  console.log(await variant(true))
  console.log(await variant(false))
}
