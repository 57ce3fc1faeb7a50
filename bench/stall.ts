/**
 * `pnpm bench stall`: how long may a worker's main thread stop before the other members
 * suspect it, or declare it down?
 *
 * Three `patina agent` child processes on loopback with the default (`lan`) failure-detection
 * settings. The first worker is stopped whole with SIGSTOP for D ms, then SIGCONT: to its peers
 * that is exactly a main thread held by one long statement (the kernel still acknowledges TCP,
 * nothing answers a ping, a probe or a sync). Meanwhile and for a while after, the other two
 * are asked for their member view every 25 ms; a run counts as *suspected* when one of them
 * showed the stopped worker `suspect`, *down* when `down`. Each duration is repeated.
 *
 * The result sets `api.limits.main_thread_max_ms` (docs/config.md): the longest a client
 * statement may hold the main thread is kept below the shortest stop that was ever suspected.
 *
 * Knobs (env): BENCH_STALL_MS (comma-separated durations), BENCH_STALL_RUNS, BENCH_STALL_AFTER_MS.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, patinaCommand, WorkerProcess } from './lib/procs.js'
import { median, progress, report, type Row } from './lib/report.js'

const DURATIONS = (process.env['BENCH_STALL_MS'] ?? '250,400,500,750,1000,1500,2000,3000,4000,6000')
  .split(',')
  .map(Number)
const RUNS = Number(process.env['BENCH_STALL_RUNS'] ?? 4)
const AFTER_MS = Number(process.env['BENCH_STALL_AFTER_MS'] ?? 8000)
const SCHEMA = 'CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY, v TEXT);'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Member {
  actor_id: string
  state: string
  self?: boolean
}

async function members(url: string): Promise<Member[]> {
  const r = await fetch(`${url}/v1/cluster/members`, { signal: AbortSignal.timeout(2000) })
  return ((await r.json()) as { members: Member[] }).members
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'patina-stall-'))
  const schemaPath = join(dir, 'schema.sql')
  writeFileSync(schemaPath, SCHEMA)
  const gossip = [await freePort(), await freePort(), await freePort()]
  const workers: WorkerProcess[] = []
  for (let i = 0; i < 3; i++) {
    const w = new WorkerProcess({
      name: `w${i}`,
      dir,
      apiPort: await freePort(),
      gossipPort: gossip[i] as number,
      bootstrap: gossip.filter((_, j) => j !== i).map((p) => `127.0.0.1:${p}`),
      schemaPath,
      command: patinaCommand(),
    })
    // The defaults of failure detection (the test helper shortens them).
    writeFileSync(
      w.configPath,
      [
        '[db]',
        `path = "${join(dir, w.spec.name, 'state.db')}"`,
        `schema_paths = ["${schemaPath}"]`,
        '[gossip]',
        `addr = "127.0.0.1:${w.spec.gossipPort}"`,
        `bootstrap = ${JSON.stringify(w.spec.bootstrap)}`,
        '[api]',
        `addr = "127.0.0.1:${w.spec.apiPort}"`,
        '[admin]',
        `path = "${join(dir, w.spec.name, 'admin.sock')}"`,
        '[log]',
        'level = "warn"',
      ].join('\n'),
    )
    workers.push(w)
  }
  const rows: Row[] = []
  const runs: { stopMs: number; suspected: boolean; down: boolean; firstSeenMs: number | null }[] = []
  try {
    await Promise.all(workers.map((w) => w.start(180_000)))
    const [victim, ...peers] = workers as [WorkerProcess, WorkerProcess, WorkerProcess]
    const victimId = (await members(victim.apiUrl)).find((m) => m.self)?.actor_id as string
    const allAlive = async (): Promise<boolean> => {
      for (const p of peers) {
        const m = (await members(p.apiUrl)).find((x) => x.actor_id === victimId)
        if (m?.state !== 'alive') return false
      }
      return true
    }
    progress('waiting for the three to see each other alive')
    for (let t = Date.now(); !(await allAlive());) {
      if (Date.now() - t > 120_000) throw new Error('the cluster did not form')
      await sleep(200)
    }
    await sleep(3000)
    for (const stopMs of DURATIONS) {
      let suspected = 0
      let down = 0
      for (let r = 0; r < RUNS; r++) {
        // Settle: every peer sees the victim alive again, then a random phase against the
        // probe schedule.
        for (let t = Date.now(); !(await allAlive());) {
          if (Date.now() - t > 60_000) throw new Error('the victim did not come back')
          await sleep(100)
        }
        await sleep(1500 + Math.random() * 1000)
        const seen = { suspect: false, down: false, firstMs: null as number | null }
        const t0 = performance.now()
        let polling = true
        const poller = (async () => {
          while (polling) {
            for (const p of peers) {
              const m = await members(p.apiUrl).catch(() => [] as Member[])
              const st = m.find((x) => x.actor_id === victimId)?.state
              if (st === 'suspect' || st === 'down') {
                seen.firstMs ??= performance.now() - t0
                if (st === 'suspect') seen.suspect = true
                else seen.down = true
              }
            }
            await sleep(25)
          }
        })()
        process.kill(victim.pid as number, 'SIGSTOP')
        await sleep(stopMs)
        process.kill(victim.pid as number, 'SIGCONT')
        await sleep(AFTER_MS)
        polling = false
        await poller
        if (seen.suspect || seen.down) suspected++
        if (seen.down) down++
        runs.push({
          stopMs,
          suspected: seen.suspect || seen.down,
          down: seen.down,
          firstSeenMs: seen.firstMs,
        })
      }
      progress(`stopped ${stopMs} ms: suspected in ${suspected}/${RUNS}, down in ${down}/${RUNS}`)
      const first = runs
        .filter((x) => x.stopMs === stopMs && x.firstSeenMs !== null)
        .map((x) => x.firstSeenMs as number)
      rows.push({
        'stopped ms': stopMs,
        runs: RUNS,
        suspected: suspected,
        down: down,
        'first seen ms (median)': first.length ? median(first) : NaN,
      })
    }
  } finally {
    for (const w of workers) {
      if (w.pid !== undefined) {
        try {
          process.kill(w.pid, 'SIGCONT')
        } catch {
          // gone
        }
      }
    }
    await Promise.all(workers.map((w) => w.signal('SIGTERM')))
    rmSync(dir, { recursive: true, force: true })
  }
  report('stall', rows, { runs, runsPerDuration: RUNS, afterMs: AFTER_MS })
}
