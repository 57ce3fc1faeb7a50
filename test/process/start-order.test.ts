/**
 * Issue 14 with real `patina agent` processes on loopback (libp2p over TCP): three- and
 * five-node clusters whose bootstrap lists form a chain (each node lists the one before it) or
 * a ring (each node lists only the next one), started seed first, seed last, all at once, and
 * in reverse chain order (one after the other, each before the node it bootstraps from). Every
 * node writes as soon as its API answers, before it has met anyone. Each scenario must end as
 * one cluster — every node sees every other alive — with every write on every node.
 *
 * Bound (LAN timings for bootstrap: retries from 0.5 s doubling up to 30 s, ±20 %): a node
 * reaches a bootstrap peer that came up t seconds after its first attempt within about 2t
 * (+20 %); then one push-pull merges the member tables and the sync round triggered by the
 * join brings the data. The test waits at most FORM_MS after the last start.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { exec, queryRows, TEST_SCHEMA, waitFor } from '../helpers/cluster.js'
import { freePort, WorkerProcess } from '../helpers/process.js'

const FORM_MS = 60_000

type Topology = 'chain' | 'ring'
type Order = 'seed-first' | 'seed-last' | 'all-at-once' | 'reverse-chain'

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

async function members(w: WorkerProcess): Promise<{ state: string }[]> {
  const r = await fetch(`${w.apiUrl}/v1/cluster/members`, { signal: AbortSignal.timeout(5000) })
  return ((await r.json()) as { members: { state: string }[] }).members
}

/** Start `ws` (in parallel) and write one row on each as soon as it answers. */
async function startAndWrite(ws: WorkerProcess[], written: Map<number, string>): Promise<void> {
  await Promise.all(
    ws.map(async (w) => {
      await w.start(120_000) // five agents starting at once on a loaded 2-core machine are slow
      const id = Number(w.spec.name.slice(1))
      await exec(w.apiUrl, [['INSERT INTO tests (id, text) VALUES (?, ?)', [id, w.spec.name]]])
      written.set(id, w.spec.name)
    }),
  )
}

async function scenario(n: number, topology: Topology, order: Order): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `patina-order-${n}-`))
  dirs.push(dir)
  const schemaPath = join(dir, 'schema.sql')
  writeFileSync(schemaPath, TEST_SCHEMA)
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()))
  const gossip = (i: number): string => `127.0.0.1:${ports[(i + n) % n]}`
  const workers: WorkerProcess[] = []
  for (let i = 0; i < n; i++) {
    const bootstrap = topology === 'chain' ? (i === 0 ? [] : [gossip(i - 1)]) : [gossip(i + 1)]
    workers.push(
      new WorkerProcess({
        name: `w${i}`,
        dir,
        apiPort: await freePort(),
        gossipPort: ports[i] as number,
        bootstrap,
        schemaPath,
        // LAN failure detection: five agents starting at once on a shared 2-core machine starve
        // each other for seconds, which 200 ms probes would report as failures
        probeIntervalMs: 1000,
        probeTimeoutMs: 500,
      }),
    )
  }
  const seed = workers[0] as WorkerProcess
  const rest = workers.slice(1)
  const written = new Map<number, string>()
  try {
    switch (order) {
      case 'seed-first':
        await startAndWrite([seed], written)
        await startAndWrite(rest, written)
        break
      case 'seed-last':
        await startAndWrite(rest, written)
        await startAndWrite([seed], written)
        break
      case 'all-at-once':
        await startAndWrite(workers, written)
        break
      case 'reverse-chain':
        for (const w of [...workers].reverse()) await startAndWrite([w], written)
        break
    }
    await waitFor(
      `${n} nodes (${topology}, ${order}) form one cluster with every write everywhere`,
      async () => {
        for (const w of workers) {
          const alive = (await members(w)).filter((m) => m.state === 'alive').length
          if (alive !== n) return false
          const rows = await queryRows(w.apiUrl, 'SELECT id, text FROM tests ORDER BY id')
          if (rows.length !== written.size || rows.some((r) => written.get(r[0] as number) !== r[1]))
            return false
        }
        return true
      },
      FORM_MS,
    )
    // and every node says so in its health
    for (const w of workers) {
      const h = (await (await fetch(`${w.apiUrl}/v1/health`)).json()) as {
        response: { isolated: boolean; reachable_members: number; last_contact_ms: number | null }
      }
      expect(h.response.isolated).toBe(false)
      expect(h.response.last_contact_ms).not.toBeNull()
    }
  } catch (err) {
    for (const w of workers) process.stderr.write(`--- ${w.spec.name}\n${w.output.join('').slice(-3000)}\n`)
    throw err
  } finally {
    await Promise.all(workers.map((w) => w.signal('SIGKILL')))
  }
}

describe('cluster formation in every start order (processes, real transport)', () => {
  const cases: [number, Topology, Order][] = [
    [3, 'chain', 'seed-first'],
    [3, 'chain', 'seed-last'],
    [3, 'ring', 'all-at-once'],
    [3, 'chain', 'reverse-chain'],
    [5, 'ring', 'seed-first'],
    [5, 'chain', 'seed-last'],
    [5, 'chain', 'all-at-once'],
    [5, 'ring', 'reverse-chain'],
  ]
  // The suite runs every 3-node order and the 5-node seed-last chain (the split this issue
  // began with); PATINA_FORMATION_ALL=1 runs all eight (about twice as long: 5-node starts
  // dominate). The in-memory formation test (packages/node/test/membership/start-order.test.ts)
  // covers every order for 3 and 5 nodes in every run.
  const all = process.env['PATINA_FORMATION_ALL'] === '1'
  const run = cases.filter(([n, , order]) => all || n === 3 || order === 'seed-last')
  it.each(run)('%i nodes, %s, %s', async (n, topology, order) => scenario(n, topology, order), 240_000)
})
