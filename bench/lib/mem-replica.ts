/**
 * Where a replica's memory goes: 2 workers, MEM_ROWS rows written on the first in 5,000-row
 * transactions (as `pnpm bench cluster` does), then, for the writer and the replica: RSS and its
 * peak (/proc), the JS heap and external memory (prom-client's default metrics), the apply
 * queue's peak, and anonymous vs file-backed memory (smaps_rollup).
 *
 *   node --import ./scripts/polyfill.mjs --import tsx bench/lib/mem-replica.ts
 *
 * Knobs: MEM_ROWS (default 1,000,000), MEM_BATCH (rows per transaction, default 5,000), MEM_ROOT (another built checkout), MEM_ENV (JSON env of the
 * workers, e.g. config keys).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { sleep } from './load.js'
import { count, patinaCommand, startProcessCluster, tx } from './procs.js'

const ROWS = Number(process.env['MEM_ROWS'] ?? 1_000_000)
// rows per transaction: 5,000 as `pnpm bench cluster`, unless a loaded machine hits the 400 ms main-thread deadline
const BATCH = Number(process.env['MEM_BATCH'] ?? 5000)
const root = process.env['MEM_ROOT']
Object.assign(process.env, JSON.parse(process.env['MEM_ENV'] ?? '{}') as Record<string, string>)
const SCHEMA = `CREATE TABLE bulk (id INTEGER NOT NULL PRIMARY KEY, host TEXT, backend TEXT, weight INTEGER NOT NULL DEFAULT 1);`

const c = await startProcessCluster(2, SCHEMA, '', {
  command:
    root === undefined ? patinaCommand() : [process.execPath, join(root, 'packages/node/bin/patina.js')],
})
const MiB = (b: number) => (b / 1048576).toFixed(0)
const status = (pid: number, f: string) =>
  Number(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024
const rollup = (pid: number, f: string) =>
  Number(
    new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1],
  ) * 1024
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  let sum = 0
  let found = false
  for (const line of text.split('\n'))
    if (line.startsWith(name + ' ') || line.startsWith(name + '{')) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1))
      found = true
    }
  return found ? sum : NaN
}
try {
  await sleep(2000)
  const [w, r] = c.workers as [(typeof c.workers)[0], (typeof c.workers)[0]]
  let maxQueue = 0
  const t0 = performance.now()
  for (let k = 0; k < ROWS; k += BATCH) {
    const values = Array.from(
      { length: Math.min(BATCH, ROWS - k) },
      (_, j) => `(${k + j}, 'h${k + j}.example', '10.0.0.1:80', 1)`,
    ).join(',')
    await tx(w.apiUrl, [`INSERT INTO bulk (id, host, backend, weight) VALUES ${values}`])
    if (k % 50_000 < BATCH) maxQueue = Math.max(maxQueue, await metric(r.apiUrl, 'patina_apply_queue_size'))
  }
  while ((await count(r.apiUrl, 'SELECT count(*) FROM bulk')) < ROWS) {
    maxQueue = Math.max(maxQueue, await metric(r.apiUrl, 'patina_apply_queue_size'))
    await sleep(500)
  }
  console.log(`${ROWS} rows written and replicated in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  await sleep(5000)
  for (const [name, p] of [
    ['writer', w],
    ['replica', r],
  ] as const) {
    const pid = p.pid as number
    console.log(
      `${name}: RSS ${MiB(status(pid, 'VmRSS'))} MiB (peak ${MiB(status(pid, 'VmHWM'))}), anon ${MiB(rollup(pid, 'Anonymous'))} MiB, ` +
        `file-backed ${MiB(status(pid, 'RssFile'))} MiB, shmem ${MiB(status(pid, 'RssShmem'))} MiB; ` +
        `JS heap used ${MiB(await metric(p.apiUrl, 'patina_nodejs_heap_size_used_bytes'))} / total ${MiB(await metric(p.apiUrl, 'patina_nodejs_heap_size_total_bytes'))} MiB, ` +
        `external ${MiB(await metric(p.apiUrl, 'patina_nodejs_external_memory_bytes'))} MiB` +
        (name === 'replica' ? `; apply queue peak seen ${maxQueue} changesets` : ''),
    )
  }
} finally {
  await c.stop()
}
