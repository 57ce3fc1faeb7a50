/**
 * `pnpm bench h2c`: does `@patina/client` gain from HTTP/2 (one connection, many streams)?
 *
 * One `patina agent` child process; the same client code (`createClient`) runs twice, once with
 * its own undici `Agent` (HTTP/1.1: a connection per concurrent request, one per live
 * subscription) and once with an undici `Agent` speaking h2c with prior knowledge
 * (`allowH2` + `useH2c`, passed as the client's `dispatcher`). Measured:
 * - sequential query latency (p50/p99 of `SELECT 1` one after another);
 * - throughput of 64 concurrent queries;
 * - SUBS live subscriptions: time to open them all, the server's open connections, and the
 *   time from a write until every subscription has seen its change (p50/p99 over WRITES).
 *
 * Knobs (env): BENCH_H2C_QUERIES, BENCH_H2C_SUBS, BENCH_H2C_WRITES.
 */
import http2 from 'node:http2'
import { createClient, type PatinaClient } from '@patina/client'
import { Agent } from 'undici'
import { startProcessCluster } from './lib/procs.js'
import { median, percentile, progress, report, type Row } from './lib/report.js'

const QUERIES = Number(process.env['BENCH_H2C_QUERIES'] ?? 2_000)
const SUBS = Number(process.env['BENCH_H2C_SUBS'] ?? 500)
const WRITES = Number(process.env['BENCH_H2C_WRITES'] ?? 30)
const SCHEMA = 'CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT);'

async function connections(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  let n = 0
  for (const m of text.matchAll(/^patina_api_connections\{protocol="(http1|http2)"\} (\d+)/gm))
    n += Number(m[2])
  return n
}

/** The operations measured, over one kind of client. */
interface Ops {
  query(sql: string): Promise<void>
  write(stmt: unknown): Promise<void>
  /** Opens a subscription; resolves once its snapshot is read; `next()` resolves on the next change. */
  subscribe(stmt: unknown): Promise<{ next(): Promise<void>; close(): void }>
  close(): Promise<void>
}

function patinaClientOps(url: string, dispatcher: Agent | undefined): Ops {
  const client: PatinaClient = createClient({ url, ...(dispatcher ? { dispatcher } : {}) })
  return {
    query: async (sql) => {
      await client.queryAll(sql)
    },
    write: async (stmt) => {
      await client.transaction([stmt as string])
    },
    async subscribe(stmt) {
      const s = await client.subscribe(stmt as string)
      const it = s[Symbol.asyncIterator]()
      for (;;) {
        const r = await it.next()
        if (r.done || 'eoq' in r.value) break
      }
      return {
        next: async () => {
          await it.next()
        },
        close: () => s.close(),
      }
    },
    close: () => client.close(),
  }
}

/** Node's own http2 client: one session carries every request and stream. */
function nodeH2Ops(url: string): Ops {
  const session = http2.connect(url)
  session.on('error', () => {})
  const request = (path: string, body: unknown) => {
    const st = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' })
    st.end(JSON.stringify(body))
    return st
  }
  const drain = (st: http2.ClientHttp2Stream) =>
    new Promise<void>((resolve, reject) => {
      st.on('data', () => {})
      st.on('end', resolve)
      st.on('error', reject)
    })
  return {
    query: (sql) => drain(request('/v1/queries', sql)),
    write: (stmt) => drain(request('/v1/transactions', [stmt])),
    subscribe(stmt) {
      const st = request('/v1/subscriptions', stmt)
      let buf = ''
      let waiting: (() => void)[] = []
      let snapshotDone: () => void = () => {}
      const snapshot = new Promise<void>((r) => (snapshotDone = r))
      st.on('data', (d: Buffer) => {
        buf += d.toString()
        let nl
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          if (line.startsWith('{"eoq"')) snapshotDone()
          else if (line.startsWith('{"change"')) {
            const w = waiting
            waiting = []
            for (const f of w) f()
          }
        }
      })
      return snapshot.then(() => ({
        next: () => new Promise<void>((r) => waiting.push(r)),
        close: () => st.close(),
      }))
    },
    close: async () => {
      session.close()
    },
  }
}

async function measure(label: string, url: string, ops: Ops): Promise<Row> {
  try {
    progress(`${label}: ${QUERIES} sequential queries`)
    for (let i = 0; i < 50; i++) await ops.query('SELECT 1')
    const lat: number[] = []
    for (let i = 0; i < QUERIES; i++) {
      const t = performance.now()
      await ops.query('SELECT 1')
      lat.push(performance.now() - t)
    }
    progress(`${label}: 64 concurrent queries`)
    const t0 = performance.now()
    let done = 0
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (done < QUERIES) {
          done++
          await ops.query('SELECT 1')
        }
      }),
    )
    const qps = QUERIES / ((performance.now() - t0) / 1000)

    progress(`${label}: ${SUBS} live subscriptions`)
    const tOpen = performance.now()
    const subs = await Promise.all(
      Array.from({ length: SUBS }, (_, i) =>
        ops.subscribe(['SELECT k, v FROM kv WHERE k % ? = 0', [(i % 10) + 1]]),
      ),
    )
    const openMs = performance.now() - tOpen
    const conns = await connections(url)
    const fanout: number[] = []
    for (let w = 0; w < WRITES; w++) {
      const key = 2520 * (w + 1) + SUBS * 2520 * (label.length % 7) // divisible by 1..10: every subscription sees it
      const t = performance.now()
      const seen = Promise.all(subs.map((s) => s.next()))
      await ops.write(['INSERT INTO kv (k, v) VALUES (?, ?)', [key, 'x']])
      await seen
      fanout.push(performance.now() - t)
    }
    for (const s of subs) s.close()
    return {
      client: label,
      'query p50 ms': median(lat),
      'query p99 ms': percentile(lat, 99),
      'queries/s (64 concurrent)': qps,
      [`open ${SUBS} subs ms`]: openMs,
      'server connections': conns,
      'write→all subs p50 ms': median(fanout),
      'write→all subs p99 ms': percentile(fanout, 99),
    }
  } finally {
    await ops.close()
  }
}

export async function run(): Promise<void> {
  progress('starting 1 worker process')
  const c = await startProcessCluster(1, SCHEMA)
  const url = c.workers[0]!.apiUrl
  const rows: Row[] = []
  try {
    rows.push(await measure('@patina/client, HTTP/1.1 (default)', url, patinaClientOps(url, undefined)))
    // undici 7.30 speaks h2c with allowH2 + useH2c. With its default pool it still opens a
    // connection per concurrent stream; with one connection (connections: 1) long-lived
    // subscription streams stall the requests behind them, so that variant is not measured.
    const h2 = new Agent({ allowH2: true, useH2c: true } as ConstructorParameters<typeof Agent>[0])
    rows.push(await measure('@patina/client, h2c (undici allowH2+useH2c)', url, patinaClientOps(url, h2)))
    await h2.close()
    rows.push(await measure('node:http2, one session', url, nodeH2Ops(url)))
  } finally {
    await c.stop()
  }
  report('h2c', rows, { queries: QUERIES, subs: SUBS, writes: WRITES })
}
