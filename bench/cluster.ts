/**
 * `pnpm bench cluster`: a multi-process cluster on loopback.
 *
 * - propagation: time from a write being acknowledged on one node to it being applied on every
 *   node (seen on each node's `/v1/updates` stream), over WRITES writes at RATE writes/s
 * - throughput: writes/s sustained with 64 requests in flight, and whether every node keeps up
 * - catch-up: a node that missed CATCHUP changes converges through sync alone
 * - memory: RSS of a worker holding MEM_ROWS rows
 *
 * The workers run the timing preset BENCH_PRESET (default `local`, the one for several nodes on
 * one host, as `patina dev` writes it), with its failure-detection timings; `test` gives the test
 * helper's 200 / 150 ms probes.
 */
import { PRESETS } from '@patina/node'
import { count, followUpdates, rssBytes, startProcessCluster, tx } from './lib/procs.js'
import { percentile, progress, report, type Row } from './lib/report.js'

const NODES = Number(process.env['BENCH_NODES'] ?? 10)
const WRITES = Number(process.env['BENCH_WRITES'] ?? 1000)
const RATE = Number(process.env['BENCH_RATE'] ?? 100)
const THROUGHPUT_MS = Number(process.env['BENCH_THROUGHPUT_MS'] ?? 10_000)
const CATCHUP = Number(process.env['BENCH_CATCHUP'] ?? 100_000)
const MEM_ROWS = Number(process.env['BENCH_MEM_ROWS'] ?? 1_000_000)
const PRESET = (process.env['BENCH_PRESET'] ?? 'local') as keyof typeof PRESETS
const SCHEMA = `CREATE TABLE tests (id INTEGER NOT NULL PRIMARY KEY, text TEXT NOT NULL DEFAULT '');
CREATE TABLE bulk (id INTEGER NOT NULL PRIMARY KEY, host TEXT, backend TEXT, weight INTEGER NOT NULL DEFAULT 1);`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Sum over the nodes of the membership counters: transitions to suspect and down, and flaps. */
async function membershipEvents(urls: string[]): Promise<{ suspect: number; down: number; flaps: number }> {
  const sum = { suspect: 0, down: 0, flaps: 0 }
  for (const u of urls) {
    const text = await (await fetch(`${u}/metrics`)).text()
    for (const line of text.split('\n')) {
      const v = Number(line.slice(line.lastIndexOf(' ') + 1))
      if (line.startsWith('patina_membership_transitions_total{') && line.includes('to="suspect"'))
        sum.suspect += v
      else if (line.startsWith('patina_membership_transitions_total{') && line.includes('to="down"'))
        sum.down += v
      else if (line.startsWith('patina_membership_flaps_total')) sum.flaps += v
    }
  }
  return sum
}

export async function run(): Promise<void> {
  progress(`starting ${NODES} worker processes`)
  if (!(PRESET in PRESETS))
    throw new Error(`BENCH_PRESET=${PRESET}: one of ${Object.keys(PRESETS).join(', ')}`)
  process.env['PATINA_GOSSIP__PRESET'] = PRESET
  const { probeIntervalMs, probeTimeoutMs } = PRESETS[PRESET].membership
  const c = await startProcessCluster(NODES, SCHEMA, '', { probeIntervalMs, probeTimeoutMs })
  const rows: Row[] = []
  const extra: Record<string, unknown> = { nodes: NODES, preset: PRESET }
  try {
    const urls = c.workers.map((w) => w.apiUrl)
    await sleep(3000)
    const before = await membershipEvents(urls)

    // --- propagation latency
    progress(`propagation: ${WRITES} writes at ${RATE}/s`)
    const seen = new Map<number, number[]>()
    const streams = urls.map((u) =>
      followUpdates(u, 'tests', (pk) => {
        const arr = seen.get(pk as number) ?? []
        arr.push(performance.now())
        seen.set(pk as number, arr)
      }),
    )
    await sleep(1000)
    const acked = new Map<number, { start: number; ack: number }>()
    const pending: Promise<void>[] = []
    const t0 = performance.now()
    for (let i = 0; i < WRITES; i++) {
      const due = t0 + (i * 1000) / RATE
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      const start = performance.now()
      pending.push(
        tx(urls[i % urls.length] as string, [
          ['INSERT INTO tests (id, text) VALUES (?, ?)', [i, `w${i}`]],
        ]).then(() => {
          acked.set(i, { start, ack: performance.now() })
        }),
      )
    }
    await Promise.all(pending)
    const deadline = performance.now() + 30_000
    while (performance.now() < deadline && [...acked.keys()].some((i) => (seen.get(i)?.length ?? 0) < NODES))
      await sleep(100)
    for (const s of streams) s.abort()
    const fromAck: number[] = []
    const fromStart: number[] = []
    let incomplete = 0
    for (const [i, t] of acked) {
      const times = seen.get(i) ?? []
      if (times.length < NODES) {
        incomplete++
        continue
      }
      const last = Math.max(...times)
      fromAck.push(Math.max(0, last - t.ack))
      fromStart.push(last - t.start)
    }
    rows.push({
      measure: `propagation to all ${NODES} nodes, from ack (ms)`,
      p50: percentile(fromAck, 50),
      p99: percentile(fromAck, 99),
      max: Math.max(...fromAck),
      n: fromAck.length,
    })
    rows.push({
      measure: `propagation to all ${NODES} nodes, from request start (ms)`,
      p50: percentile(fromStart, 50),
      p99: percentile(fromStart, 99),
      max: Math.max(...fromStart),
      n: fromStart.length,
    })
    extra['propagationIncomplete'] = incomplete

    // --- throughput with 64 in flight, rows of 100 per transaction avoided: single-row writes
    progress(`throughput: 64 in flight for ${THROUGHPUT_MS} ms`)
    let next = 1_000_000
    let done = 0
    const stopAt = performance.now() + THROUGHPUT_MS
    const tStart = performance.now()
    await Promise.all(
      Array.from({ length: 64 }, async (_, k) => {
        while (performance.now() < stopAt) {
          const id = next++
          await tx(urls[k % urls.length] as string, [
            ['INSERT INTO tests (id, text) VALUES (?, ?)', [id, 't']],
          ])
          done++
        }
      }),
    )
    const writeSecs = (performance.now() - tStart) / 1000
    const total = WRITES + done
    const lagStart = performance.now()
    let slowest = 0
    for (const u of urls) {
      while ((await count(u, 'SELECT count(*) FROM tests')) < total && performance.now() - lagStart < 60_000)
        await sleep(100)
    }
    slowest = (performance.now() - lagStart) / 1000
    rows.push({
      measure: 'HTTP writes/s, 64 in flight, single-row tx',
      p50: done / writeSecs,
      p99: NaN,
      max: NaN,
      n: done,
    })
    rows.push({
      measure: 'time for every node to hold all rows after the run (s)',
      p50: slowest,
      p99: NaN,
      max: NaN,
      n: total,
    })

    // --- failure detection under this load: any member suspected or marked down, any flap
    const after = await membershipEvents(urls)
    for (const [k, label] of [
      ['suspect', 'members marked suspect during propagation + throughput (sum over nodes)'],
      ['down', 'members marked down during propagation + throughput (sum over nodes)'],
      ['flaps', 'flaps (alive again without a restart; sum over nodes)'],
    ] as const)
      rows.push({ measure: label, p50: after[k] - before[k], p99: NaN, max: NaN, n: NODES })

    // --- catch-up through sync (BENCH_CATCHUP=0 skips it)
    if (CATCHUP > 0) {
      progress(`catch-up: stop one node, write ${CATCHUP} rows, restart`)
      const victim = c.workers[NODES - 1]!
      await victim.signal('SIGTERM')
      const batch = 1000
      for (let k = 0; k < CATCHUP; k += batch) {
        const values = Array.from(
          { length: Math.min(batch, CATCHUP - k) },
          (_, j) => `(${k + j}, 'h${k + j}.example', '10.0.0.1:80', 1)`,
        ).join(',')
        await tx(urls[0] as string, [`INSERT INTO bulk (id, host, backend, weight) VALUES ${values}`])
      }
      const tc = performance.now()
      await victim.start(120_000)
      while (
        (await count(victim.apiUrl, 'SELECT count(*) FROM bulk')) < CATCHUP &&
        performance.now() - tc < 300_000
      )
        await sleep(200)
      const catchSecs = (performance.now() - tc) / 1000
      rows.push({
        measure: `catch-up of ${CATCHUP} changed rows through sync (s, incl. process start)`,
        p50: catchSecs,
        p99: NaN,
        max: NaN,
        n: CATCHUP,
      })

      // --- memory with MEM_ROWS rows
    }
    // --- memory (BENCH_MEM_ROWS=0 skips it)
    if (MEM_ROWS > 0) {
      progress(`memory: ${MEM_ROWS} rows on one node`)
      for (let k = CATCHUP; k < MEM_ROWS; k += 5000) {
        const values = Array.from(
          { length: Math.min(5000, MEM_ROWS - k) },
          (_, j) => `(${k + j}, 'h${k + j}.example', '10.0.0.1:80', 1)`,
        ).join(',')
        await tx(urls[0] as string, [`INSERT INTO bulk (id, host, backend, weight) VALUES ${values}`])
      }
      await sleep(2000)
      rows.push({
        measure: `RSS of the writer holding ${MEM_ROWS} rows (MiB)`,
        p50: (await rssBytes(urls[0] as string)) / 2 ** 20,
        p99: NaN,
        max: NaN,
        n: MEM_ROWS,
      })
      rows.push({
        measure: `RSS of a replica holding ${MEM_ROWS} rows (MiB)`,
        p50: (await rssBytes(urls[1] as string)) / 2 ** 20,
        p99: NaN,
        max: NaN,
        n: MEM_ROWS,
      })
    }
  } finally {
    await c.stop()
  }
  report('cluster', rows, extra)
}
