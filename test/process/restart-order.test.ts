/**
 * Issue 14 with real `patina agent` processes: a seed that the others declared down comes back
 * at a new address (same data directory: it finds the others through the members it
 * remembers), and a whole cluster killed at once comes back in random order. Each ends as one
 * cluster with every write on every node.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, it } from 'vitest'
import { exec, queryRows, TEST_SCHEMA, waitFor } from '../helpers/cluster.js'
import { freePort, WorkerProcess, type WorkerSpec } from '../helpers/process.js'

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

interface Member {
  actor_id: string
  state: string
  self: boolean
}
async function members(w: WorkerProcess): Promise<Member[]> {
  const r = await fetch(`${w.apiUrl}/v1/cluster/members`, { signal: AbortSignal.timeout(5000) })
  return ((await r.json()) as { members: Member[] }).members
}

async function setup(n: number, bootstrap: (ports: number[], i: number) => string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'patina-restart-order-'))
  dirs.push(dir)
  const schemaPath = join(dir, 'schema.sql')
  writeFileSync(schemaPath, TEST_SCHEMA)
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()))
  const specs: WorkerSpec[] = []
  for (let i = 0; i < n; i++)
    specs.push({
      name: `w${i}`,
      dir,
      apiPort: await freePort(),
      gossipPort: ports[i] as number,
      bootstrap: bootstrap(ports, i),
      schemaPath,
      probeIntervalMs: 500,
      probeTimeoutMs: 400,
    })
  return { dir, specs, workers: specs.map((s) => new WorkerProcess(s)) }
}

const written = new Map<number, string>()
let nextId = 0
async function writeOn(w: WorkerProcess): Promise<void> {
  const id = nextId++
  await exec(w.apiUrl, [['INSERT INTO tests (id, text) VALUES (?, ?)', [id, w.spec.name]]])
  written.set(id, w.spec.name)
}

async function oneClusterWithEveryWrite(workers: WorkerProcess[], what: string): Promise<void> {
  const want = [...written.entries()].sort((a, b) => a[0] - b[0])
  await waitFor(
    what,
    async () => {
      for (const w of workers) {
        if ((await members(w)).filter((m) => m.state === 'alive').length !== workers.length) return false
        const rows = await queryRows(w.apiUrl, 'SELECT id, text FROM tests ORDER BY id')
        if (JSON.stringify(rows) !== JSON.stringify(want)) return false
      }
      return true
    },
    90_000,
  )
}

async function dumpOnFailure<T>(workers: WorkerProcess[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    for (const w of workers) process.stderr.write(`--- ${w.spec.name}\n${w.output.join('').slice(-3000)}\n`)
    throw err
  } finally {
    await Promise.all(workers.map((w) => w.signal('SIGKILL')))
  }
}

describe('restarts in awkward orders (processes, real transport)', () => {
  it('a seed declared down comes back at a new address and rejoins', async () => {
    written.clear()
    // w1 and w2 list the seed by name; the seed lists nobody
    const { specs, workers } = await setup(3, (ports, i) => (i === 0 ? [] : [`localhost:${ports[0]}`]))
    const all = [...workers]
    await dumpOnFailure(all, async () => {
      await Promise.all(workers.map((w) => w.start(120_000)))
      for (const w of workers) await writeOn(w)
      await oneClusterWithEveryWrite(workers, 'the first cluster')
      const [seed, w1, w2] = workers as [WorkerProcess, WorkerProcess, WorkerProcess]
      const actor = (await members(seed)).find((m) => m.self)?.actor_id
      await seed.signal('SIGKILL')
      await waitFor(
        'the others declare the seed down',
        async () => {
          for (const w of [w1, w2])
            if ((await members(w)).find((m) => m.actor_id === actor)?.state !== 'down') return false
          return true
        },
        60_000,
      )
      await writeOn(w1)
      // same data directory, new gossip port: the others' bootstrap entry leads nowhere now
      const moved = new WorkerProcess({ ...(specs[0] as WorkerSpec), gossipPort: await freePort() })
      all.push(moved)
      await moved.start(120_000)
      await writeOn(moved)
      await oneClusterWithEveryWrite([moved, w1, w2], 'the seed back at its new address, one cluster')
    })
  }, 400_000)

  it('a whole cluster killed at once comes back in random order', async () => {
    written.clear()
    const { workers } = await setup(3, (ports, i) => (i === 0 ? [] : [`127.0.0.1:${ports[i - 1]}`]))
    await dumpOnFailure(workers, async () => {
      await Promise.all(workers.map((w) => w.start(120_000)))
      for (const w of workers) await writeOn(w)
      await oneClusterWithEveryWrite(workers, 'the first cluster')
      await Promise.all(workers.map((w) => w.signal('SIGKILL')))
      // back in a random order, each launched a random moment after the previous
      const order = [...workers].sort(() => Math.random() - 0.5)
      const starting: Promise<void>[] = []
      for (const w of order) {
        starting.push(w.start(120_000).then(() => writeOn(w)))
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 1500)))
      }
      await Promise.all(starting)
      await oneClusterWithEveryWrite(
        workers,
        `one cluster again after restarting in order ${order.map((w) => w.spec.name).join(',')}`,
      )
    })
  }, 400_000)
})
