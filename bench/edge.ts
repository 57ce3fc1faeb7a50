/**
 * `pnpm bench edge`: the edge daemon (`createEdge`, in this process) following a
 * ROWS-row routing table from a 3-worker cluster of `patina agent` child processes.
 *
 * - lookup latency: in-process `edge.lookup` and over the edge's local HTTP port
 * - write → edge view: a write on a worker other than the edge's until the edge's view changes,
 *   and a write on the edge's own worker (no gossip hop)
 * - failover: SIGKILL the edge's worker while writes continue elsewhere; time until the view
 *   moves again (first post-kill write visible) and until the failover snapshot is reconciled
 * - memory: JS heap (after GC) and RSS added by holding the view
 *
 * Knobs (env): BENCH_EDGE_ROWS, BENCH_EDGE_WRITES, BENCH_EDGE_FAILOVERS.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { LiveChange } from '@patina/client'
import { createEdge, type Edge } from '@patina/edge'
import { agent, getText, postJson, postText } from './lib/http.js'
import { cdfPlot } from './lib/plot.js'
import { startProcessCluster } from './lib/procs.js'
import { median, percentile, progress, report, type Row } from './lib/report.js'

const ROWS = Number(process.env['BENCH_EDGE_ROWS'] ?? 100_000)
const WRITES = Number(process.env['BENCH_EDGE_WRITES'] ?? 200)
const WRITE_RATE = 20
const FAILOVERS = Number(process.env['BENCH_EDGE_FAILOVERS'] ?? 3)
const LOOKUPS = 100_000
const HTTP_LOOKUPS = 5000

const SCHEMA = `CREATE TABLE routes (host TEXT NOT NULL PRIMARY KEY, app TEXT, backend TEXT, weight INTEGER NOT NULL DEFAULT 1);`
const host = (i: number) => `host-${i}.example.com`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heapAfterGc = (): number => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

export async function run(): Promise<void> {
  const rows: Row[] = []
  const extra: Record<string, unknown> = {}
  progress('starting 3 worker processes')
  const c = await startProcessCluster(3, SCHEMA)
  const [w0, w1, w2] = c.workers as [(typeof c.workers)[0], (typeof c.workers)[0], (typeof c.workers)[0]]
  const http = agent(32)
  let edge: Edge | undefined
  try {
    progress(`loading ${ROWS} routes on w0`)
    for (let k = 0; k < ROWS; k += 1000) {
      const values = Array.from(
        { length: Math.min(1000, ROWS - k) },
        (_, j) => `('${host(k + j)}', 'app-${(k + j) % 500}', '10.0.${(k + j) & 255}.1:8080', 1)`,
      ).join(',')
      await postJson(http, `${w0.apiUrl}/v1/transactions`, [
        `INSERT INTO routes (host, app, backend, weight) VALUES ${values}`,
      ])
    }
    for (const w of [w1, w2]) {
      for (let t = 0; t < 600; t++) {
        const text = await postText(http, `${w.apiUrl}/v1/queries`, 'SELECT count(*) FROM routes')
        if (text.includes(`[${ROWS}]`)) break
        await sleep(250)
      }
    }

    // ------------------------------------------------------------ edge start and memory
    const heap0 = heapAfterGc()
    const rss0 = process.memoryUsage().rss
    edge = createEdge({
      workers: [w1.apiUrl, w2.apiUrl],
      listen: '127.0.0.1:0',
      queries: [{ name: 'routes', sql: 'SELECT host, app, backend, weight FROM routes', key: ['host'] }],
    })
    const tStart = performance.now()
    const edgeUrl = await edge.start()
    const sub = edge.subscription('routes')
    await sub.ready
    const syncMs = performance.now() - tStart
    await sleep(500)
    const heap1 = heapAfterGc()
    const rss1 = process.memoryUsage().rss
    progress(`edge synced in ${Math.round(syncMs)} ms`)

    // ------------------------------------------------------------ lookups
    progress(`${LOOKUPS} in-process lookups`)
    const inproc: number[] = []
    let x = 12345
    for (let i = 0; i < LOOKUPS; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff
      const key = host(x % ROWS)
      const s = process.hrtime.bigint()
      const r = edge.lookup('routes', [key])
      const e = process.hrtime.bigint()
      if (r.rows.length !== 1) throw new Error(`lookup ${key} returned ${r.rows.length} rows`)
      inproc.push(Number(e - s) / 1000)
    }
    const tBulk = performance.now()
    for (let i = 0; i < LOOKUPS; i++) edge.lookup('routes', [host(i % ROWS)])
    const bulkPerSec = LOOKUPS / ((performance.now() - tBulk) / 1000)
    progress(`${HTTP_LOOKUPS} HTTP lookups (1 in flight), then 32 in flight`)
    const overHttp: number[] = []
    for (let i = 0; i < HTTP_LOOKUPS; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff
      const s = performance.now()
      const r = await getText(http, `${edgeUrl}/v1/lookup/routes?key=${host(x % ROWS)}`)
      overHttp.push((performance.now() - s) * 1000)
      if (r.status !== 200) throw new Error(`HTTP lookup ${r.status}: ${r.text}`)
    }
    let httpDone = 0
    const tHttp = performance.now()
    await Promise.all(
      Array.from({ length: 32 }, async (_, k) => {
        for (let i = k; i < 20_000; i += 32) {
          await getText(http, `${edgeUrl}/v1/lookup/routes?key=${host((i * 31) % ROWS)}`)
          httpDone++
        }
      }),
    )
    const httpPerSec = httpDone / ((performance.now() - tHttp) / 1000)
    rows.push({
      measure: `in-process lookup, ${ROWS}-row view (µs)`,
      p50: percentile(inproc, 50),
      p99: percentile(inproc, 99),
      value: bulkPerSec,
      unit: 'lookups/s (1 thread)',
    })
    rows.push({
      measure: 'HTTP lookup on the edge port, 1 in flight (µs)',
      p50: percentile(overHttp, 50),
      p99: percentile(overHttp, 99),
      value: httpPerSec,
      unit: 'lookups/s at 32 in flight',
    })

    // ------------------------------------------------------------ write → edge view
    const changed = new Map<string, number>()
    const onChange = (ch: LiveChange) => {
      const h = ch.cells[0]
      if (typeof h === 'string' && !changed.has(h)) changed.set(h, performance.now())
    }
    const off = sub.on('change', onChange)
    const writeToView = async (target: string, n: number, tag: string): Promise<number[]> => {
      const sent = new Map<string, number>()
      const t0 = performance.now()
      const pending: Promise<unknown>[] = []
      for (let i = 0; i < n; i++) {
        const due = t0 + (i * 1000) / WRITE_RATE
        const wait = due - performance.now()
        if (wait > 0) await sleep(wait)
        const h = host((i * 7919 + tag.length * 13) % ROWS)
        changed.delete(h)
        sent.set(h, performance.now())
        pending.push(
          postJson(http, `${target}/v1/transactions`, [
            ['UPDATE routes SET backend = ? WHERE host = ?', [`${tag}-${i}`, h]],
          ]),
        )
      }
      await Promise.all(pending)
      const deadline = performance.now() + 10_000
      while ([...sent.keys()].some((h) => !changed.has(h)) && performance.now() < deadline) await sleep(20)
      return [...sent].filter(([h]) => changed.has(h)).map(([h, s]) => (changed.get(h) as number) - s)
    }
    progress(`write → edge view: ${WRITES} writes on w0 (edge follows ${sub.status().worker})`)
    const remoteLat = await writeToView(w0.apiUrl, WRITES, 'remote')
    progress(`write → edge view: ${WRITES / 2} writes on the edge's own worker`)
    const localLat = await writeToView(w1.apiUrl, WRITES / 2, 'local')
    rows.push({
      measure: 'write on another worker → edge view changed (ms)',
      p50: percentile(remoteLat, 50),
      p99: percentile(remoteLat, 99),
      value: remoteLat.length,
      unit: `of ${WRITES} writes seen`,
    })
    rows.push({
      measure: "write on the edge's worker → edge view changed (ms)",
      p50: percentile(localLat, 50),
      p99: percentile(localLat, 99),
      value: localLat.length,
      unit: `of ${WRITES / 2} writes seen`,
    })

    // ------------------------------------------------------------ failover
    const moved: number[] = []
    const reconciled: number[] = []
    for (let f = 0; f < FAILOVERS; f++) {
      const current = sub.status().worker
      const victim = c.workers.find((w) => w.apiUrl === current)
      if (victim === undefined || victim === w0) throw new Error(`edge follows ${current}, not w1/w2`)
      progress(`failover ${f + 1}/${FAILOVERS}: SIGKILL ${victim.spec.name} (pid ${victim.pid})`)
      let syncedAt = 0
      const offSynced = sub.on('event', (ev) => {
        if (ev.type === 'synced' && ev.reason === 'failover' && syncedAt === 0) syncedAt = performance.now()
      })
      const hosts: string[] = []
      let stop = false
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          const h = host((f * 100_003 + i * 104_729) % ROWS)
          changed.delete(h)
          hosts.push(h)
          await postJson(http, `${w0.apiUrl}/v1/transactions`, [
            ['UPDATE routes SET backend = ? WHERE host = ?', [`fail${f}-${i}`, h]],
          ])
          await sleep(50)
        }
      })()
      await sleep(300)
      const killIndex = hosts.length
      const tKill = performance.now()
      await victim.signal('SIGKILL')
      const deadline = tKill + 60_000
      while (
        performance.now() < deadline &&
        (syncedAt === 0 || !hosts.slice(killIndex).some((h) => changed.has(h)))
      )
        await sleep(10)
      const firstSeen = Math.min(
        ...hosts
          .slice(killIndex)
          .map((h) => changed.get(h))
          .filter((t): t is number => t !== undefined),
      )
      stop = true
      await writer
      offSynced()
      moved.push(firstSeen - tKill)
      reconciled.push(syncedAt > 0 ? syncedAt - tKill : NaN)
      progress(`  view moved after ${Math.round(firstSeen - tKill)} ms; now on ${sub.status().worker}`)
      await victim.start(120_000)
      // let probes see the restarted worker (the edge may move back to it) before the next round
      await sleep(3000)
    }
    off()
    rows.push({
      measure: "failover: SIGKILL of the edge's worker → first later write visible (ms)",
      p50: median(moved),
      p99: Math.max(...moved),
      value: moved.length,
      unit: 'failovers (p99 column = max)',
    })
    rows.push({
      measure: `failover: SIGKILL → snapshot of ${ROWS} rows reconciled (ms)`,
      p50: median(reconciled),
      p99: Math.max(...reconciled),
      value: reconciled.length,
      unit: 'failovers (p99 column = max)',
    })
    rows.push({
      measure: `edge start → first snapshot of ${ROWS} rows (ms)`,
      p50: syncMs,
      p99: NaN,
      value: 1,
      unit: '',
    })
    rows.push({
      measure: `edge memory for ${ROWS} rows: JS heap after GC (MiB)`,
      p50: (heap1 - heap0) / 2 ** 20,
      p99: NaN,
      value: (heap1 - heap0) / ROWS,
      unit: 'bytes per row',
    })
    rows.push({
      measure: `edge memory for ${ROWS} rows: RSS growth (MiB)`,
      p50: (rss1 - rss0) / 2 ** 20,
      p99: NaN,
      value: (rss1 - rss0) / ROWS,
      unit: 'bytes per row',
    })
    const plot = await cdfPlot(
      'edge-latency.svg',
      {
        'write on another worker → edge view': remoteLat,
        "write on the edge's worker → edge view": localLat,
      },
      { title: `Write → edge view (${ROWS}-row routing table, 3 workers, loopback)`, xTitle: 'ms (log)' },
    )
    const plot2 = await cdfPlot(
      'edge-lookup.svg',
      { 'in-process lookup': inproc, 'HTTP lookup (edge port, 1 in flight)': overHttp },
      { title: `Edge lookup latency (${ROWS}-row view)`, xTitle: 'µs (log)' },
    )
    extra['plots'] = [plot, plot2]
    extra['rows'] = ROWS
  } finally {
    await edge?.stop().catch(() => undefined)
    await http.close().catch(() => undefined)
    await c.stop()
  }
  report('edge', rows, extra)
}
