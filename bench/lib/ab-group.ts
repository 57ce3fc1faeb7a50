/**
 * A/B: group commit on (`api.limits.transactions_per_group_max = 64`, the default) vs off (1),
 * side by side in one run: two 3-worker clusters run at once, and the measurement windows
 * alternate between them (A B A B ...), so both see the same machine load. Reports the median
 * of each measure over the rounds, and the ratio on ÷ off.
 *
 *   nice -n 10 node --conditions=source --import ./scripts/polyfill.mjs --import tsx bench/lib/ab-group.ts
 *
 * Per window: HTTP writes/s with 64 in flight spread over the 3 workers (the peers
 * benchmark's workload), request p50/p99, CPU of the 3 server processes per write, the time
 * until every worker holds every write, mean requests per group; then 300 writes at 100/s
 * on one worker (request p50/p99), and 200 writes one at a time (nothing to group with: group
 * commit must not add latency to a lone write).
 *
 * Knobs (env): AB_ROUNDS (default 3), AB_MS (closed-loop window, default 6000).
 */
import { agent, getText, postJson, postText } from './http.js'
import { closedLoop, openLoop, sleep } from './load.js'
import { treeCpuMs } from './cpu.js'
import { startProcessCluster } from './procs.js'
import { median, percentile } from './report.js'

const ROUNDS = Number(process.env['AB_ROUNDS'] ?? 3)
const MS = Number(process.env['AB_MS'] ?? 6000)
const SCHEMA = 'CREATE TABLE kv (k TEXT NOT NULL PRIMARY KEY, v TEXT);'
const value = (i: number) => `value-${i}-${'x'.repeat(48)}`

interface Window {
  tput: number
  p50: number
  p99: number
  cpuPerWriteMs: number
  keepUpS: number
  perGroup: number
  /** Changes messages the 3 workers published per write. */
  msgsPerWrite: number
  loneP50: number
  loneP99: number
  seqP50: number
  seqP99: number
}

async function groupStats(
  http: ReturnType<typeof agent>,
  urls: string[],
): Promise<{ sum: number; count: number; msgs: number }> {
  let sum = 0
  let count = 0
  let msgs = 0
  for (const u of urls) {
    const { text } = await getText(http, `${u}/metrics`)
    sum += Number(/patina_api_transaction_group_size_sum (\d+)/.exec(text)?.[1] ?? 0)
    count += Number(/patina_api_transaction_group_size_count (\d+)/.exec(text)?.[1] ?? 0)
    msgs += Number(/patina_gossip_messages_published_total\{topic="changes"\} (\d+)/.exec(text)?.[1] ?? 0)
  }
  return { sum, count, msgs }
}

async function main(): Promise<void> {
  const variants = [
    { name: 'off (1)', max: 1 },
    { name: 'on (64)', max: 64 },
  ]
  const clusters = []
  for (const v of variants) {
    clusters.push(
      await startProcessCluster(3, SCHEMA, `[api.limits]\ntransactions_per_group_max = ${v.max}\n`),
    )
  }
  const http = agent(64)
  const results: Window[][] = variants.map(() => [])
  try {
    await sleep(3000)
    for (let r = 0; r < ROUNDS; r++) {
      for (const [vi, v] of variants.entries()) {
        const c = clusters[vi] as Awaited<ReturnType<typeof startProcessCluster>>
        const urls = c.workers.map((w) => w.apiUrl)
        const pids = c.workers.map((w) => w.pid ?? -1)
        const tag = `r${r}`
        const write = (node: number, key: string, i: number) =>
          postJson(http, `${urls[node]}/v1/transactions`, [
            [
              'INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v',
              [key, value(i)],
            ],
          ]).then(() => undefined)
        const g0 = await groupStats(http, urls)
        const cpu0 = treeCpuMs(pids)
        const tp = await closedLoop(64, MS, (op) => write(op % 3, `t${tag}.${op}`, op))
        const cpu = treeCpuMs(pids) - cpu0
        const g1 = await groupStats(http, urls)
        const t = performance.now()
        for (let i = 0; i < 600; i++) {
          let all = true
          for (const u of urls) {
            const text = await postText(http, `${u}/v1/queries`, [
              'SELECT count(*) FROM kv WHERE k LIKE ?',
              [`t${tag}.%`],
            ]).catch(() => '')
            if (!text.includes(`[${tp.done}]`)) all = false
          }
          if (all) break
          await sleep(100)
        }
        const keepUpS = (performance.now() - t) / 1000
        const lone: number[] = []
        await openLoop(300, 100, async (i) => {
          const s = performance.now()
          await write(0, `l${tag}.${i}`, i)
          lone.push(performance.now() - s)
        })
        // One write at a time: nothing to group with, so this is the cost of the path itself.
        const seq: number[] = []
        for (let i = 0; i < 200; i++) {
          const s = performance.now()
          await write(0, `s${tag}.${i}`, i)
          seq.push(performance.now() - s)
        }
        const w: Window = {
          tput: tp.done / tp.secs,
          p50: percentile(tp.lat, 50),
          p99: percentile(tp.lat, 99),
          cpuPerWriteMs: cpu / tp.done,
          keepUpS,
          perGroup: g1.count > g0.count ? (g1.sum - g0.sum) / (g1.count - g0.count) : 1,
          msgsPerWrite: (g1.msgs - g0.msgs) / tp.done,
          loneP50: percentile(lone, 50),
          loneP99: percentile(lone, 99),
          seqP50: percentile(seq, 50),
          seqP99: percentile(seq, 99),
        }
        ;(results[vi] as Window[]).push(w)
        console.log(
          `round ${r + 1} ${v.name}: ${w.tput.toFixed(0)} writes/s, p50 ${w.p50.toFixed(1)} ms, p99 ${w.p99.toFixed(1)} ms, CPU ${w.cpuPerWriteMs.toFixed(2)} ms/write, keep-up ${w.keepUpS.toFixed(2)} s, ${w.perGroup.toFixed(1)} requests/group, ${w.msgsPerWrite.toFixed(3)} messages/write; writes at 100/s p50 ${w.loneP50.toFixed(2)} ms, p99 ${w.loneP99.toFixed(2)} ms; one at a time p50 ${w.seqP50.toFixed(2)} ms, p99 ${w.seqP99.toFixed(2)} ms`,
        )
      }
    }
  } finally {
    await http.close()
    for (const c of clusters) await c.stop()
  }
  const keys: [keyof Window, string][] = [
    ['tput', 'writes/s, 64 in flight'],
    ['p50', 'request p50 at that load (ms)'],
    ['p99', 'request p99 at that load (ms)'],
    ['cpuPerWriteMs', 'CPU of the 3 server processes per write (ms)'],
    ['keepUpS', 'every worker holds every write, after the window (s)'],
    ['perGroup', 'requests per group (mean)'],
    ['msgsPerWrite', 'changes messages published per write'],
    ['loneP50', 'writes at 100/s on one worker, request p50 (ms)'],
    ['loneP99', 'writes at 100/s on one worker, request p99 (ms)'],
    ['seqP50', 'one write at a time, request p50 (ms)'],
    ['seqP99', 'one write at a time, request p99 (ms)'],
  ]
  console.log(`\nmedians of ${ROUNDS} rounds\n`)
  console.log(`| measure | ${variants.map((v) => v.name).join(' | ')} | on ÷ off |`)
  console.log(`|---|${variants.map(() => '---|').join('')}---|`)
  for (const [k, label] of keys) {
    const m = results.map((ws) => median(ws.map((w) => w[k])))
    console.log(
      `| ${label} | ${m.map((x) => x.toFixed(2)).join(' | ')} | ${((m[1] as number) / (m[0] as number)).toFixed(2)} |`,
    )
  }
}

await main()
