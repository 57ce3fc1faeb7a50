/**
 * CPU per gossip message, transports only: N libp2p transports in this process, every pair
 * connected (as membership does up to 12 connections), one topic; M messages of 300 bytes
 * published round-robin, each delivered to the N - 1 others. Charged: this process's CPU time
 * (user + system) per message, all N nodes included, so a loaded machine slows the run but
 * barely changes the figure. Variants are builds (`root`: a built checkout's compiled
 * transport) and mesh settings, rounds interleaved.
 *
 *   node --import ./scripts/polyfill.mjs --import tsx bench/lib/wire-cpu.ts
 *
 * WIRE_VARIANTS: JSON list of `{ name, root?, mesh? }` (default: this checkout, gossipsub's mesh);
 * WIRE_NODES (3), WIRE_MESSAGES (2000), WIRE_ROUNDS (3).
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../../test/helpers/process.js'
import { sleep } from './load.js'
import { buildPatina } from './procs.js'
import { median } from './report.js'

interface Variant {
  name: string
  root?: string
  mesh?: { degree: number; degreeLow: number; degreeHigh: number; heartbeatMs: number }
}
interface T {
  peerId: string
  start(): Promise<void>
  stop(): Promise<void>
  subscribe(t: string): void
  publish(t: string, d: Uint8Array): Promise<void>
  onMessage(l: (m: { from: string; data: Uint8Array }) => void): void
  dial(a: string, o?: { signal?: AbortSignal }): Promise<string>
  addresses(): string[]
}

const N = Number(process.env['WIRE_NODES'] ?? 3)
const M = Number(process.env['WIRE_MESSAGES'] ?? 2000)
const ROUNDS = Number(process.env['WIRE_ROUNDS'] ?? 3)
const VARIANTS = JSON.parse(process.env['WIRE_VARIANTS'] ?? '[{"name":"this"}]') as Variant[]
const cpu = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

async function once(v: Variant): Promise<{ cpuUs: number; wrongFrom: number; missing: number }> {
  if (v.root === undefined) buildPatina()
  const file = join(v.root ?? ROOT, 'packages/node/dist/transport/libp2p.js')
  const mod = (await import(pathToFileURL(file).href)) as {
    createLibp2pTransport(o: object): T
  }
  const nodes = Array.from({ length: N }, () =>
    mod.createLibp2pTransport({ listen: ['127.0.0.1:0'], ...(v.mesh ? { mesh: v.mesh } : {}) }),
  )
  const got = new Map<string, number>()
  let delivered = 0
  let waiter: { until: number; resolve: () => void } | null = null
  const until = (n: number): Promise<void> =>
    delivered >= n
      ? Promise.resolve()
      : Promise.race([new Promise<void>((resolve) => (waiter = { until: n, resolve })), sleep(30_000)])
  let wrongFrom = 0
  const origin = new Map<string, string>()
  try {
    for (const n of nodes) {
      n.subscribe('t')
      await n.start()
      n.onMessage((m) => {
        const key = Buffer.from(m.data.subarray(0, 8)).toString('hex')
        if (origin.get(key) !== m.from) wrongFrom++
        got.set(key, (got.get(key) ?? 0) + 1)
        delivered++
        if (waiter !== null && delivered >= waiter.until) {
          const w = waiter
          waiter = null
          w.resolve()
        }
      })
    }
    for (let i = 0; i < N; i++)
      for (let j = i + 1; j < N; j++) {
        const ma = nodes[j]?.addresses().find((a) => a.startsWith('/ip4/127.0.0.1/')) as string
        await nodes[i]?.dial(ma, { signal: AbortSignal.timeout(60_000) }) // a loaded machine
        await sleep(250) // libp2p refuses more than 5 inbound connections a second from one host
      }
    await sleep(3000) // mesh formation (a few heartbeats)
    const run = async (count: number): Promise<void> => {
      const start = delivered
      for (let i = 0; i < count; i++) {
        const data = randomBytes(300)
        const key = data.subarray(0, 8).toString('hex')
        const from = nodes[i % N] as T
        origin.set(key, from.peerId)
        await from.publish('t', data)
        // at most 16 messages in flight
        if (i % 16 === 15) await until(start + (i + 1) * (N - 1))
      }
      await until(start + count * (N - 1))
    }
    await run(100) // warm-up
    got.clear()
    delivered = 0
    const c0 = cpu()
    await run(M)
    const used = cpu() - c0
    let missing = 0
    for (const n of got.values()) missing += Math.max(0, N - 1 - n)
    missing += (M - got.size) * (N - 1)
    return { cpuUs: (used * 1000) / M, wrongFrom, missing }
  } finally {
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)))
  }
}

const res = new Map<string, { cpuUs: number; wrongFrom: number; missing: number }[]>(
  VARIANTS.map((v) => [v.name, []]),
)
for (let r = 0; r < ROUNDS; r++)
  for (const v of VARIANTS) {
    const x = await once(v)
    res.get(v.name)?.push(x)
    console.error(`  … round ${r + 1} ${v.name}: ${x.cpuUs.toFixed(0)} µs/message`)
  }
const base = median((res.get(VARIANTS[0]?.name as string) ?? []).map((x) => x.cpuUs))
console.log(`${N} nodes, ${M} messages of 300 B, ${ROUNDS} rounds`)
console.log(
  '| variant | CPU per message, all nodes (µs, median) | ÷ first | from ≠ publisher | copies missing |',
)
console.log('|---|---|---|---|---|')
for (const v of VARIANTS) {
  const xs = res.get(v.name) ?? []
  const m = median(xs.map((x) => x.cpuUs))
  console.log(
    `| ${v.name} | ${m.toFixed(0)} | ${(m / base).toFixed(2)} | ${xs.reduce((a, x) => a + x.wrongFrom, 0)} | ${xs.reduce((a, x) => a + x.missing, 0)} |`,
  )
}
process.exit(0)
