/**
 * `pnpm bench api`: the HTTP API of one worker (a `patina agent` child process) against the
 * state engine called directly in this process.
 *
 * - transactions/s over HTTP (64 requests in flight) for single-row writes and for 100-row
 *   batches, vs `engine.transaction` in a loop (ratio)
 * - subscription fan-out: SUBS concurrent subscribers to one query on one worker, writes at
 *   FAN_RATE/s; latency from the write request to the change event at each subscriber
 * - incremental cost: one row changed under a subscription over a BIG_ROWS-row table, vs
 *   re-running the query (over HTTP and in-process)
 * - subscription kinds (table `api-subscriptions`, in process): work per commit of a
 *   subscription of each kind of query over a BIG_ROWS-row table, incremental and re-run
 *
 * Knobs (env): BENCH_HTTP_MS, BENCH_SUBS, BENCH_FAN_RATE, BENCH_FAN_SECONDS, BENCH_BIG_ROWS,
 * BENCH_API_ONLY=subscriptions (run only the subscription kinds).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStateEngine, type Statement } from '@patina/core'
import { agent, getText, postJson, postText, streamLines, type LineStream } from './lib/http.js'
import { cdfPlot } from './lib/plot.js'
import { startProcessCluster } from './lib/procs.js'
import { median, percentile, progress, report, type Row } from './lib/report.js'
import { measureSubscriptionKinds } from './lib/subscription-kinds.js'

const HTTP_MS = Number(process.env['BENCH_HTTP_MS'] ?? 8000)
const IN_FLIGHT = 64
const SUBS = Number(process.env['BENCH_SUBS'] ?? 1000)
const FAN_RATE = Number(process.env['BENCH_FAN_RATE'] ?? 20)
const FAN_SECONDS = Number(process.env['BENCH_FAN_SECONDS'] ?? 10)
const BIG_ROWS = Number(process.env['BENCH_BIG_ROWS'] ?? 100_000)
const INCR_CHANGES = 200

const SCHEMA = `CREATE TABLE kv (id INTEGER NOT NULL PRIMARY KEY, host TEXT, backend TEXT, weight INTEGER NOT NULL DEFAULT 1);
CREATE TABLE fan (id INTEGER NOT NULL PRIMARY KEY, v TEXT);
CREATE TABLE big (id INTEGER NOT NULL PRIMARY KEY, host TEXT, backend TEXT, weight INTEGER NOT NULL DEFAULT 1);`
const INSERT_KV = 'INSERT INTO kv (id, host, backend, weight) VALUES (?, ?, ?, ?)'
const kvParams = (i: number): [number, string, string, number] => [
  i,
  `host-${i}.example.com`,
  `10.0.${(i >> 8) & 255}.${i & 255}:8080`,
  1 + (i % 10),
]
const BIG_SQL = 'SELECT id, host, backend, weight FROM big'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Sum and count of a Prometheus histogram in a /metrics text. */
function histogram(text: string, name: string): { sum: number; count: number } {
  let sum = 0
  let count = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}_sum`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
    else if (line.startsWith(`${name}_count`)) count += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return { sum, count }
}

/** Run `fn` with `inFlight` concurrent loops for `ms`; returns completed count, seconds and latencies. */
async function closedLoop(
  inFlight: number,
  ms: number,
  fn: (k: number) => Promise<void>,
): Promise<{ done: number; secs: number; lat: number[] }> {
  const lat: number[] = []
  let done = 0
  const t0 = performance.now()
  const stopAt = t0 + ms
  await Promise.all(
    Array.from({ length: inFlight }, async (_, k) => {
      while (performance.now() < stopAt) {
        const s = performance.now()
        await fn(k)
        lat.push(performance.now() - s)
        done++
      }
    }),
  )
  return { done, secs: (performance.now() - t0) / 1000, lat }
}

export async function run(): Promise<void> {
  const kinds = await measureSubscriptionKinds(BIG_ROWS)
  report('api-subscriptions', kinds.rows, kinds.extra)
  if (process.env['BENCH_API_ONLY'] === 'subscriptions') return
  const rows: Row[] = []
  const extra: Record<string, unknown> = {}
  const dir = mkdtempSync(join(tmpdir(), 'patina-bench-api-'))
  progress('starting one worker process')
  const c = await startProcessCluster(1, SCHEMA)
  const url = c.workers[0]!.apiUrl
  const txUrl = `${url}/v1/transactions`
  const http = agent(IN_FLIGHT)
  const streams = agent()
  const open: LineStream[] = []
  try {
    // ------------------------------------------------------------ engine called directly
    progress('engine directly: single-row and 100-row transactions')
    const engine = createStateEngine({ path: join(dir, 'direct.sqlite'), schema: SCHEMA })
    let next = 0
    const single = (() => {
      const n = 5000
      const t0 = performance.now()
      for (let i = 0; i < n; i++) engine.transaction([{ sql: INSERT_KV, params: kvParams(next++) }])
      return n / ((performance.now() - t0) / 1000)
    })()
    const batch = (() => {
      const n = 500
      const t0 = performance.now()
      for (let i = 0; i < n; i++) {
        const stmts: Statement[] = Array.from({ length: 100 }, () => ({
          sql: INSERT_KV,
          params: kvParams(next++),
        }))
        engine.transaction(stmts)
      }
      return n / ((performance.now() - t0) / 1000)
    })()

    // ------------------------------------------------------------ HTTP transactions
    progress(`HTTP single-row transactions, ${IN_FLIGHT} in flight for ${HTTP_MS} ms`)
    let id = 0
    await postJson(http, txUrl, [[INSERT_KV, kvParams(id++)]]) // warm-up
    const s1 = await closedLoop(IN_FLIGHT, HTTP_MS, () =>
      postJson(http, txUrl, [[INSERT_KV, kvParams(id++)]]),
    )
    progress(`HTTP 100-row transactions, ${IN_FLIGHT} in flight for ${HTTP_MS} ms`)
    const s100 = await closedLoop(IN_FLIGHT, HTTP_MS, () =>
      postJson(
        http,
        txUrl,
        Array.from({ length: 100 }, () => [INSERT_KV, kvParams(id++)]),
      ),
    )
    const httpSingle = s1.done / s1.secs
    const httpBatch = s100.done / s100.secs
    rows.push({
      measure: 'engine.transaction, single-row (tx/s, in-process)',
      value: single,
      'p50 ms': NaN,
      'p99 ms': NaN,
      ratio: 1,
    })
    rows.push({
      measure: `HTTP /v1/transactions, single-row (tx/s, ${IN_FLIGHT} in flight)`,
      value: httpSingle,
      'p50 ms': percentile(s1.lat, 50),
      'p99 ms': percentile(s1.lat, 99),
      ratio: httpSingle / single,
    })
    rows.push({
      measure: 'engine.transaction, 100 rows (tx/s, in-process)',
      value: batch,
      'p50 ms': NaN,
      'p99 ms': NaN,
      ratio: 1,
    })
    rows.push({
      measure: `HTTP /v1/transactions, 100 rows (tx/s, ${IN_FLIGHT} in flight)`,
      value: httpBatch,
      'p50 ms': percentile(s100.lat, 50),
      'p99 ms': percentile(s100.lat, 99),
      ratio: httpBatch / batch,
    })

    // ------------------------------------------------------------ subscription fan-out
    progress(`fan-out: opening ${SUBS} subscriptions`)
    const sent = new Map<number, number>()
    const fanLat: number[] = []
    const lastAt = new Map<number, number>()
    const perWrite = new Map<number, number>()
    let eventsSeen = 0
    const onFanLine = (line: string): void => {
      if (!line.startsWith('{"change"')) return
      const at = performance.now()
      const ev = JSON.parse(line) as { change: [string, number, [number, string], number] }
      const wid = ev.change[2][0]
      const s = sent.get(wid)
      if (s === undefined) return
      eventsSeen++
      fanLat.push(at - s)
      lastAt.set(wid, at)
      perWrite.set(wid, (perWrite.get(wid) ?? 0) + 1)
    }
    const tOpen = performance.now()
    for (let k = 0; k < SUBS; k += 100) {
      const batchStreams = Array.from({ length: Math.min(100, SUBS - k) }, () =>
        streamLines(streams, `${url}/v1/subscriptions`, { body: 'SELECT id, v FROM fan' }, onFanLine),
      )
      open.push(...batchStreams)
      await Promise.all(batchStreams.map((s) => s.opened))
    }
    const openSecs = (performance.now() - tOpen) / 1000
    await sleep(1000)
    const writes = Math.round(FAN_RATE * FAN_SECONDS)
    progress(`fan-out: ${writes} writes at ${FAN_RATE}/s to ${SUBS} subscribers`)
    const ackLat: number[] = []
    const pending: Promise<void>[] = []
    const t0 = performance.now()
    for (let i = 0; i < writes; i++) {
      const due = t0 + (i * 1000) / FAN_RATE
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      const s = performance.now()
      sent.set(i, s)
      pending.push(
        postJson(http, txUrl, [['INSERT INTO fan (id, v) VALUES (?, ?)', [i, `v${i}`]]]).then(() => {
          ackLat.push(performance.now() - s)
        }),
      )
    }
    await Promise.all(pending)
    const deadline = performance.now() + 30_000
    while (eventsSeen < writes * SUBS && performance.now() < deadline) await sleep(100)
    const complete: number[] = []
    for (const [w, s] of sent) {
      if (perWrite.get(w) === SUBS) complete.push((lastAt.get(w) as number) - s)
    }
    for (const s of open.splice(0)) s.abort()
    rows.push({
      measure: `fan-out: write → event at each of ${SUBS} subscribers (ms, ${FAN_RATE} writes/s)`,
      value: eventsSeen,
      'p50 ms': percentile(fanLat, 50),
      'p99 ms': percentile(fanLat, 99),
      ratio: eventsSeen / (writes * SUBS),
    })
    rows.push({
      measure: `fan-out: write → event at the last of ${SUBS} subscribers (ms)`,
      value: complete.length,
      'p50 ms': percentile(complete, 50),
      'p99 ms': percentile(complete, 99),
      ratio: complete.length / writes,
    })
    rows.push({
      measure: 'fan-out: the write request itself (ms, for reference)',
      value: ackLat.length,
      'p50 ms': percentile(ackLat, 50),
      'p99 ms': percentile(ackLat, 99),
      ratio: NaN,
    })
    extra['fanout'] = { subscribers: SUBS, writes, openSecs, eventsExpected: writes * SUBS, eventsSeen }

    // ------------------------------------------------------------ incremental cost
    progress(`incremental: loading ${BIG_ROWS} rows`)
    for (let k = 0; k < BIG_ROWS; k += 1000) {
      const n = Math.min(1000, BIG_ROWS - k)
      const values = Array.from(
        { length: n },
        (_, j) => `(${k + j}, 'h${k + j}.example', '10.0.${(k + j) & 255}.1:80', 1)`,
      ).join(',')
      await postJson(http, txUrl, [`INSERT INTO big (id, host, backend, weight) VALUES ${values}`])
      engine.transaction([{ sql: `INSERT INTO big (id, host, backend, weight) VALUES ${values}` }])
    }
    const upd = (i: number) => [['UPDATE big SET weight = weight + 1 WHERE id = ?', [(i * 7919) % BIG_ROWS]]]
    progress('incremental: update round trips without a subscription')
    const plainLat: number[] = []
    for (let i = 0; i < INCR_CHANGES; i++) {
      const s = performance.now()
      await postJson(http, txUrl, upd(i))
      plainLat.push(performance.now() - s)
    }
    progress('incremental: subscribing to the whole table')
    let snapRows = 0
    let eoqAt = 0
    let waiter: { id: number; resolve: () => void } | null = null
    const tSnap = performance.now()
    const big = streamLines(streams, `${url}/v1/subscriptions`, { body: BIG_SQL }, (line) => {
      if (line.startsWith('{"row"')) snapRows++
      else if (line.startsWith('{"eoq"')) eoqAt = performance.now()
      else if (line.startsWith('{"change"') && waiter !== null) {
        const ev = JSON.parse(line) as { change: [string, number, [number], number] }
        if (ev.change[2][0] === waiter.id) waiter.resolve()
      }
    })
    open.push(big)
    await big.opened
    while (eoqAt === 0) await sleep(5)
    const snapMs = eoqAt - tSnap
    const before = histogram(
      (await getText(http, `${url}/metrics`)).text,
      'patina_subscription_process_seconds',
    )
    const subLat: number[] = []
    for (let i = 0; i < INCR_CHANGES; i++) {
      const rowId = ((i + INCR_CHANGES) * 7919) % BIG_ROWS
      const s = performance.now()
      const seen = new Promise<void>((resolve) => {
        waiter = { id: rowId, resolve }
      })
      await postJson(http, txUrl, upd(i + INCR_CHANGES))
      await seen
      subLat.push(performance.now() - s)
    }
    waiter = null
    const after = histogram(
      (await getText(http, `${url}/metrics`)).text,
      'patina_subscription_process_seconds',
    )
    big.abort()
    progress('incremental: re-running the query')
    const rerunHttp: number[] = []
    for (let i = 0; i < 5; i++) {
      const s = performance.now()
      const res = await postText(http, `${url}/v1/queries`, BIG_SQL)
      if (!res.includes('"eoq"')) throw new Error('query did not finish')
      rerunHttp.push(performance.now() - s)
    }
    const rerunEngine: number[] = []
    for (let i = 0; i < 5; i++) {
      const s = performance.now()
      let n = 0
      for (const _ of engine.query(BIG_SQL).rows) n++
      if (n !== BIG_ROWS) throw new Error(`engine query returned ${n} rows`)
      rerunEngine.push(performance.now() - s)
    }
    engine.close()
    const perChangeMs =
      after.count > before.count ? ((after.sum - before.sum) / (after.count - before.count)) * 1000 : NaN
    rows.push({
      measure: `incremental: update round trip, no subscription (ms)`,
      value: INCR_CHANGES,
      'p50 ms': percentile(plainLat, 50),
      'p99 ms': percentile(plainLat, 99),
      ratio: NaN,
    })
    rows.push({
      measure: `incremental: update → change event, subscription over ${BIG_ROWS} rows (ms)`,
      value: INCR_CHANGES,
      'p50 ms': percentile(subLat, 50),
      'p99 ms': percentile(subLat, 99),
      ratio: median(rerunHttp) / percentile(subLat, 50),
    })
    rows.push({
      measure: 'incremental: server-side subscription work per commit (ms, from metrics)',
      value: after.count - before.count,
      'p50 ms': perChangeMs,
      'p99 ms': NaN,
      ratio: median(rerunEngine) / perChangeMs,
    })
    rows.push({
      measure: `re-run the query over HTTP, ${BIG_ROWS} rows (ms)`,
      value: 5,
      'p50 ms': median(rerunHttp),
      'p99 ms': Math.max(...rerunHttp),
      ratio: NaN,
    })
    rows.push({
      measure: `re-run the query in-process (engine.query), ${BIG_ROWS} rows (ms)`,
      value: 5,
      'p50 ms': median(rerunEngine),
      'p99 ms': Math.max(...rerunEngine),
      ratio: NaN,
    })
    rows.push({
      measure: `subscription snapshot of ${BIG_ROWS} rows to eoq (ms)`,
      value: snapRows,
      'p50 ms': snapMs,
      'p99 ms': NaN,
      ratio: NaN,
    })
    const plot = await cdfPlot(
      'api-latency.svg',
      {
        'HTTP single-row tx (64 in flight)': s1.lat,
        'HTTP 100-row tx (64 in flight)': s100.lat,
        [`fan-out write→event, ${SUBS} subscribers`]: fanLat,
        [`update→event, subscription over ${BIG_ROWS} rows`]: subLat,
      },
      { title: 'HTTP API latency (one worker, loopback)', xTitle: 'ms (log)' },
    )
    extra['plots'] = [plot]
    extra['notes'] = {
      ratioColumn:
        'HTTP rows: HTTP tx/s ÷ engine tx/s. fan-out rows: delivered ÷ expected. incremental rows: re-run time ÷ per-change time',
    }
  } finally {
    for (const s of open) s.abort()
    await streams.close().catch(() => undefined)
    await http.close().catch(() => undefined)
    await c.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  report('api', rows, extra)
}
