/**
 * `pnpm bench peers`: Patina side by side with etcd and NATS JetStream KV, same workload, one run,
 * one machine, all on loopback.
 *
 * - Patina: 3 `patina agent` child processes; HTTP/JSON API (`/v1/transactions`, subscriptions).
 * - etcd (Debian `etcd-server`): 3 members; its v3 HTTP/JSON gateway (`/v3/kv/put`, `/v3/watch`),
 *   so that both sides pay for HTTP + JSON. Data dir on tmpfs by default (BENCH_ETCD_DIR to
 *   change): Patina (SQLite WAL, synchronous=NORMAL) and NATS (flush every 2 min) do not fsync per
 *   write, so etcd's per-commit fdatasync is taken out of the comparison.
 * - NATS (Debian `nats-server`): 3 servers with JetStream, a KV bucket with 3 replicas, through the
 *   official `nats` client (its native TCP protocol; NATS has no HTTP API).
 * - raw better-sqlite3 (WAL, synchronous=NORMAL) as the local limit for writes and reads.
 *
 * Workload:
 * - write throughput: single-key writes of a ~60-byte value, 64 in flight, spread over the 3 nodes
 * - write → notification: write on node 0, notification on node 2 (etcd watch / NATS KV watch /
 *   Patina subscription), LAT_WRITES writes at LAT_RATE/s and LAT_WRITES at max rate (64 in flight)
 * - read latency: one key by primary key on node 1, one request at a time
 *
 * Everything started here is stopped by pid and its temp dirs removed, also on failure.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { connect, KvWatchInclude, type KV, type NatsConnection } from 'nats'
import { barPlot, cdfPlot } from './lib/plot.js'
import { agent, postJson, postText, streamLines, type LineStream } from './lib/http.js'
import {
  ensureDebianPackages,
  startEtcd,
  startNats,
  type EtcdCluster,
  type NatsCluster,
} from './lib/daemons.js'
import { closedLoop, openLoop, sleep, waitFor } from './lib/load.js'
import { treeCpuMs } from './lib/cpu.js'
import { startProcessCluster } from './lib/procs.js'
import { percentile, progress, report, type Row } from './lib/report.js'

const TPUT_MS = Number(process.env['BENCH_TPUT_MS'] ?? 8000)
const LAT_WRITES = Number(process.env['BENCH_LAT_WRITES'] ?? 1000)
const LAT_RATE = Number(process.env['BENCH_LAT_RATE'] ?? 100)
const READS = Number(process.env['BENCH_READS'] ?? 2000)
const IN_FLIGHT = 64
const SCHEMA = `CREATE TABLE kv (k TEXT NOT NULL PRIMARY KEY, v TEXT);`
const value = (i: number) => `value-${i}-${'x'.repeat(48)}`
const b64 = (s: string) => Buffer.from(s).toString('base64')
const unb64 = (s: string) => Buffer.from(s, 'base64').toString()

export interface System {
  name: string
  /** One write of key → value through node `node`. */
  write(node: number, key: string, val: string): Promise<void>
  /** Watch keys with `prefix` on node `node`; calls `onValue(value)` per notification. */
  watch(node: number, prefix: string, onValue: (val: string) => void): Promise<() => void>
  read(node: number, key: string): Promise<string | null>
  /** Every node holds `n` keys under `prefix` (for "every node keeps up"); null when not measurable. */
  caughtUp?(prefix: string, n: number): Promise<boolean>
  /** Server process ids whose CPU time (with their descendants') the run is charged. */
  pids: number[]
}

export function patinaSystem(urls: string[], pids: number[]): System & { close(): Promise<void> } {
  const http = agent(IN_FLIGHT)
  const streams = agent()
  return {
    name: 'Patina',
    pids,
    async write(node, key, val) {
      await postJson(http, `${urls[node]}/v1/transactions`, [
        ['INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v', [key, val]],
      ])
    },
    async watch(node, prefix, onValue) {
      const s: LineStream = streamLines(
        streams,
        `${urls[node]}/v1/subscriptions`,
        { body: [`SELECT k, v FROM kv WHERE k LIKE ?`, [`${prefix}%`]] },
        (line) => {
          if (!line.startsWith('{"change"')) return
          const ev = JSON.parse(line) as { change: [string, number, [string, string], number] }
          onValue(ev.change[2][1])
        },
      )
      await s.opened
      return () => s.abort()
    },
    async read(node, key) {
      const text = await postText(http, `${urls[node]}/v1/queries`, ['SELECT v FROM kv WHERE k = ?', [key]])
      const row = text.split('\n').find((l) => l.startsWith('{"row"'))
      return row === undefined ? null : (JSON.parse(row) as { row: [number, [string]] }).row[1][0]
    },
    async caughtUp(prefix, n) {
      for (const u of urls) {
        const text = await postText(http, `${u}/v1/queries`, [
          'SELECT count(*) FROM kv WHERE k LIKE ?',
          [`${prefix}%`],
        ])
        if (!text.includes(`[${n}]`)) return false
      }
      return true
    },
    async close() {
      await http.close()
      await streams.close()
    },
  }
}

function etcdSystem(
  urls: string[],
  pids: number[],
): System & { readSerializable(node: number, key: string): Promise<void>; close(): Promise<void> } {
  const http = agent(IN_FLIGHT)
  const streams = agent()
  return {
    name: 'etcd',
    pids,
    async write(node, key, val) {
      await postJson(http, `${urls[node]}/v3/kv/put`, { key: b64(key), value: b64(val) })
    },
    async watch(node, prefix, onValue) {
      const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
      const s = streamLines(
        streams,
        `${urls[node]}/v3/watch`,
        { body: { create_request: { key: b64(prefix), range_end: b64(end) } } },
        (line) => {
          const msg = JSON.parse(line) as { result?: { events?: { kv?: { value?: string } }[] } }
          for (const e of msg.result?.events ?? []) if (e.kv?.value !== undefined) onValue(unb64(e.kv.value))
        },
      )
      await s.opened
      await sleep(200) // the watch is created after the stream opens
      return () => s.abort()
    },
    async read(node, key) {
      const r = await postJson<{ kvs?: { value: string }[] }>(http, `${urls[node]}/v3/kv/range`, {
        key: b64(key),
      })
      const v = r.kvs?.[0]?.value
      return v === undefined ? null : unb64(v)
    },
    async readSerializable(node, key) {
      await postJson(http, `${urls[node]}/v3/kv/range`, { key: b64(key), serializable: true })
    },
    async close() {
      await http.close()
      await streams.close()
    },
  }
}

async function natsSystem(urls: string[], pids: number[]): Promise<System & { close(): Promise<void> }> {
  const conns: NatsConnection[] = []
  const kvs: KV[] = []
  const deadline = Date.now() + 60_000
  for (const u of urls) {
    for (;;) {
      try {
        const nc = await connect({ servers: u, timeout: 2000 })
        const kv = await nc.jetstream().views.kv('bench', { replicas: 3, history: 1 })
        conns.push(nc)
        kvs.push(kv)
        break
      } catch (err) {
        if (Date.now() > deadline) throw err
        await sleep(500)
      }
    }
  }
  const enc = new TextEncoder()
  const dec = new TextDecoder()
  const kvAt = (node: number) => kvs[node] as KV
  return {
    name: 'NATS KV',
    pids,
    async write(node, key, val) {
      await kvAt(node).put(key, enc.encode(val))
    },
    async watch(node, prefix, onValue) {
      const iter = await kvAt(node).watch({ key: `${prefix}>`, include: KvWatchInclude.UpdatesOnly })
      void (async () => {
        for await (const e of iter) if (e.operation === 'PUT') onValue(dec.decode(e.value))
      })()
      return () => iter.stop()
    },
    async read(node, key) {
      const e = await kvAt(node).get(key)
      return e === null ? null : dec.decode(e.value)
    },
    async close() {
      await Promise.all(conns.map((c) => c.close()))
    },
  }
}

export interface Result {
  tput: number
  tputP99: number
  /** CPU ms of all server processes per acknowledged write in the throughput run. */
  cpuPerWrite: number
  fixed: number[]
  fixedSeen: number
  max: number[]
  maxSeen: number
  read: number[]
  keepUpSecs?: number
}

export async function measure(sys: System, tag: string): Promise<Result> {
  // throughput, spread over the 3 nodes
  progress(`${sys.name}: write throughput, ${IN_FLIGHT} in flight for ${TPUT_MS} ms`)
  const cpu0 = treeCpuMs(sys.pids)
  const tp = await closedLoop(IN_FLIGHT, TPUT_MS, (op) => sys.write(op % 3, `t${tag}.${op}`, value(op)))
  const cpuPerWrite = (treeCpuMs(sys.pids) - cpu0) / tp.done
  let keepUpSecs: number | undefined
  if (sys.caughtUp !== undefined) {
    const t = performance.now()
    for (let i = 0; i < 600; i++) {
      if (await sys.caughtUp(`t${tag}.`, tp.done)) break
      await sleep(100)
    }
    keepUpSecs = (performance.now() - t) / 1000
  }
  // write → notification: write on node 0, watch on node 2
  const lat = async (prefix: string, drive: (write: (i: number) => Promise<void>) => Promise<void>) => {
    const sent = new Map<string, number>()
    const got: number[] = []
    const seen = new Set<string>()
    const stop = await sys.watch(2, prefix, (val) => {
      const s = sent.get(val)
      if (s === undefined || seen.has(val)) return
      seen.add(val)
      got.push(performance.now() - s)
    })
    await sleep(500)
    await drive(async (i) => {
      const v = value(i)
      sent.set(v, performance.now())
      await sys.write(0, `${prefix}${i}`, v)
    })
    await waitFor(() => seen.size >= sent.size, 15_000)
    stop()
    return { got, seen: seen.size }
  }
  progress(`${sys.name}: write → notification, ${LAT_WRITES} writes at ${LAT_RATE}/s`)
  const fixed = await lat(`f${tag}.`, (w) => openLoop(LAT_WRITES, LAT_RATE, w))
  progress(`${sys.name}: write → notification, ${LAT_WRITES} writes at max rate (${IN_FLIGHT} in flight)`)
  const max = await lat(`m${tag}.`, async (w) => {
    await closedLoop(IN_FLIGHT, 120_000, w, LAT_WRITES)
  })
  progress(`${sys.name}: ${READS} reads on node 1`)
  const read: number[] = []
  for (let i = 0; i < READS; i++) {
    const s = performance.now()
    const v = await sys.read(1, `f${tag}.${i % LAT_WRITES}`)
    read.push(performance.now() - s)
    if (v === null) throw new Error(`${sys.name}: read of f${tag}.${i % LAT_WRITES} found nothing`)
  }
  return {
    tput: tp.done / tp.secs,
    tputP99: percentile(tp.lat, 99),
    cpuPerWrite,
    fixed: fixed.got,
    fixedSeen: fixed.seen,
    max: max.got,
    maxSeen: max.seen,
    read,
    ...(keepUpSecs !== undefined ? { keepUpSecs } : {}),
  }
}

function sqliteLimits(dir: string): {
  writeSingle: number
  write100: number
  reads: number
  readLat: number[]
} {
  const db = new Database(join(dir, 'raw.sqlite'))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(SCHEMA)
  const ins = db.prepare('INSERT INTO kv (k, v) VALUES (?, ?)')
  let t0 = performance.now()
  const n1 = 20_000
  for (let i = 0; i < n1; i++) ins.run(`s.${i}`, value(i))
  const writeSingle = n1 / ((performance.now() - t0) / 1000)
  const many = db.transaction((base: number) => {
    for (let j = 0; j < 100; j++) ins.run(`b.${base + j}`, value(base + j))
  })
  t0 = performance.now()
  for (let i = 0; i < 2000; i++) many(i * 100)
  const write100 = 2000 / ((performance.now() - t0) / 1000)
  const get = db.prepare('SELECT v FROM kv WHERE k = ?').pluck()
  t0 = performance.now()
  for (let i = 0; i < 200_000; i++) get.get(`s.${i % n1}`)
  const reads = 200_000 / ((performance.now() - t0) / 1000)
  const readLat: number[] = []
  for (let i = 0; i < 20_000; i++) {
    const s = process.hrtime.bigint()
    get.get(`s.${(i * 7) % n1}`)
    readLat.push(Number(process.hrtime.bigint() - s) / 1e6)
  }
  db.close()
  return { writeSingle, write100, reads, readLat }
}

export async function run(): Promise<void> {
  ensureDebianPackages({ etcd: 'etcd-server', 'nats-server': 'nats-server' }, progress)
  const dir = mkdtempSync(join(tmpdir(), 'patina-bench-peers-'))
  const etcdBase = process.env['BENCH_ETCD_DIR'] ?? '/dev/shm'
  const etcdDir = mkdtempSync(join(etcdBase, 'patina-bench-etcd-'))
  const cleanups: (() => Promise<void>)[] = []
  const rows: Row[] = []
  const extra: Record<string, unknown> = { etcdDataDir: etcdBase }
  try {
    progress('raw better-sqlite3 limits')
    const raw = sqliteLimits(dir)

    progress('starting 3 Patina workers')
    const pc = await startProcessCluster(3, SCHEMA)
    cleanups.push(() => pc.stop())
    await sleep(2000)
    const patina = patinaSystem(
      pc.workers.map((w) => w.apiUrl),
      pc.workers.map((w) => w.pid ?? -1),
    )
    cleanups.push(() => patina.close())
    const P = await measure(patina, 'p')
    await patina.close()
    await pc.stop()
    cleanups.length = 0

    progress(`starting 3 etcd members (data in ${etcdBase})`)
    let ec: EtcdCluster | undefined = await startEtcd(etcdDir)
    cleanups.push(() => ec?.stop() ?? Promise.resolve())
    const etcd = etcdSystem(
      ec.clientUrls,
      ec.daemons.map((d) => d.pid),
    )
    const E = await measure(etcd, 'e')
    const serial: number[] = []
    for (let i = 0; i < READS; i++) {
      const s = performance.now()
      await etcd.readSerializable(1, `fe.${i % LAT_WRITES}`)
      serial.push(performance.now() - s)
    }
    await etcd.close()
    await ec.stop()
    ec = undefined
    cleanups.length = 0

    progress('starting 3 nats-server nodes (JetStream)')
    let nc: NatsCluster | undefined = await startNats(join(dir, 'nats'))
    cleanups.push(() => nc?.stop() ?? Promise.resolve())
    const nats = await natsSystem(
      nc.urls,
      nc.daemons.map((d) => d.pid),
    )
    cleanups.push(() => nats.close())
    const N = await measure(nats, 'n')
    await nats.close()
    await nc.stop()
    nc = undefined
    cleanups.length = 0

    const p = (xs: number[], q: number) => percentile(xs, q)
    const cmp = (measure: string, pv: number, ev: number, nv: number, sq = NaN): Row => ({
      measure,
      Patina: pv,
      etcd: ev,
      'NATS KV': nv,
      sqlite: sq,
      'Patina÷etcd': pv / ev,
      'Patina÷NATS': pv / nv,
    })
    rows.push(
      cmp(`write throughput, ${IN_FLIGHT} in flight (writes/s)`, P.tput, E.tput, N.tput, raw.writeSingle),
    )
    rows.push(cmp('  request latency p99 at that load (ms)', P.tputP99, E.tputP99, N.tputP99))
    rows.push(
      cmp('  CPU of all server processes per write (ms)', P.cpuPerWrite, E.cpuPerWrite, N.cpuPerWrite),
    )
    rows.push(cmp('  every node holds every write, after the run (s)', P.keepUpSecs ?? NaN, NaN, NaN))
    rows.push(
      cmp(`write → notification p50, ${LAT_RATE}/s (ms)`, p(P.fixed, 50), p(E.fixed, 50), p(N.fixed, 50)),
    )
    rows.push(
      cmp(`write → notification p99, ${LAT_RATE}/s (ms)`, p(P.fixed, 99), p(E.fixed, 99), p(N.fixed, 99)),
    )
    rows.push(cmp('write → notification p50, max rate (ms)', p(P.max, 50), p(E.max, 50), p(N.max, 50)))
    rows.push(cmp('write → notification p99, max rate (ms)', p(P.max, 99), p(E.max, 99), p(N.max, 99)))
    rows.push(
      cmp(
        `notifications received (of ${LAT_WRITES} + ${LAT_WRITES})`,
        P.fixedSeen + P.maxSeen,
        E.fixedSeen + E.maxSeen,
        N.fixedSeen + N.maxSeen,
      ),
    )
    rows.push(
      cmp(
        'read one key on node 1, p50 (ms)',
        p(P.read, 50),
        p(E.read, 50),
        p(N.read, 50),
        p(raw.readLat, 50),
      ),
    )
    rows.push(
      cmp(
        'read one key on node 1, p99 (ms)',
        p(P.read, 99),
        p(E.read, 99),
        p(N.read, 99),
        p(raw.readLat, 99),
      ),
    )
    rows.push(cmp('  etcd serializable read p50 (ms)', NaN, p(serial, 50), NaN))
    rows.push(cmp('  etcd serializable read p99 (ms)', NaN, p(serial, 99), NaN))
    rows.push(cmp('raw better-sqlite3: 100-row transactions/s', NaN, NaN, NaN, raw.write100))
    rows.push(cmp('raw better-sqlite3: point reads/s (1 thread)', NaN, NaN, NaN, raw.reads))
    const plots = [
      await cdfPlot(
        'peers-notify-fixed.svg',
        { Patina: P.fixed, etcd: E.fixed, 'NATS KV': N.fixed },
        {
          title: `Write → notification on another node, ${LAT_RATE} writes/s (3 nodes, loopback)`,
          xTitle: 'ms (log)',
        },
      ),
      await cdfPlot(
        'peers-notify-max.svg',
        { Patina: P.max, etcd: E.max, 'NATS KV': N.max },
        { title: `Write → notification, max rate (${IN_FLIGHT} in flight)`, xTitle: 'ms (log)' },
      ),
      await barPlot(
        'peers-throughput.svg',
        [
          { label: 'Patina (HTTP)', value: P.tput },
          { label: 'etcd (HTTP gateway)', value: E.tput },
          { label: 'NATS KV R3', value: N.tput },
        ],
        { title: `Write throughput, ${IN_FLIGHT} in flight, 3 nodes`, xTitle: 'writes/s' },
      ),
    ]
    extra['plots'] = plots
    extra['samples'] = {
      fixedP99: { patina: p(P.fixed, 99), etcd: p(E.fixed, 99), nats: p(N.fixed, 99) },
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
    rmSync(etcdDir, { recursive: true, force: true })
  }
  report('peers', rows, extra)
}
