/**
 * The fault campaign of the chaos tier (test/chaos/lib) against a cluster in real containers:
 * three workers of the deploy/Dockerfile image on one user-defined network, the chaos
 * workload (seeded inserts, updates, deletes, re-inserts and multi-statement transactions) on
 * random workers through their mapped 127.0.0.1 ports, while a seeded nemesis does
 * `docker kill` + `docker start`, `docker pause`/`unpause` and `docker network
 * disconnect`/`connect` (a partition). Then the faults stop and the checks of the chaos
 * library run: every worker holds the same rows, the history checks (no lost acknowledged
 * write unless superseded, no lost update, no phantom, no reused version) and the reference
 * model of the merge rules over the changesets a sync-only recorder fetches from every worker.
 *
 * Seed: PATINA_CHAOS_SEED, else random; printed with every failure.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { StartedTestContainer } from 'testcontainers'
import {
  IMAGE,
  TEST_LABEL,
  docker,
  dockerSuite,
  prepareImageRun,
  removeLabelled,
  sleep,
  waitFor,
  workerContainer,
} from './helpers.js'
import {
  checkHistory,
  minimalHistory,
  type Outcome,
  type Row,
  type WriteRecord,
} from '../chaos/lib/history.js'
import { dumpKv } from '../chaos/lib/inspect.js'
import { modelKv } from '../chaos/lib/model.js'
import { createRecorder } from '../chaos/lib/recorder.js'
import { between, CHAOS_SCHEMA, makeOp, pick, rng, stepSql } from '../chaos/lib/workload.js'

const RUN = `${process.pid}-${randomBytes(3).toString('hex')}`
const NET = `patina-chaos-${RUN}`
const LABELS = { [TEST_LABEL]: RUN }
const WORKERS = [1, 2, 3].map((i) => `patina-chaos-${RUN}-w${i}`)
const SEED = Number(process.env['PATINA_CHAOS_SEED'] ?? '') || randomBytes(4).readUInt32BE(0) & 0x7fffffff
/** Length of the fault phase (the workload runs during it), ms. */
const FAULT_MS = 24_000
const KEYS = 20
const WRITERS = 3
/** Bound of the convergence wait after healing, ms (anti-entropy runs at least every 3 s here). */
const HEAL_MS = 90_000
const REQUEST_TIMEOUT_MS = 3_000

const started: StartedTestContainer[] = []
/** Each worker's API base on 127.0.0.1 (its mapped port changes when it restarts). */
const api = new Map<string, string>()

function startWorker(name: string): Promise<StartedTestContainer> {
  return workerContainer(name, WORKERS, NET, LABELS)
    .withExposedPorts(8080, 8787)
    .withCopyContentToContainer([{ content: CHAOS_SCHEMA, target: '/etc/patina/schema/kv.sql', mode: 0o644 }])
    .start()
}

/** The host port docker maps `port` of `name` to, or null (stopped, or cut off from its network). */
async function mappedPort(name: string, port: number): Promise<number | null> {
  const out = await docker(['port', name, `${port}/tcp`]).catch(() => '')
  const m = /:(\d+)\s*$/m.exec(out.split('\n')[0] ?? '')
  return m ? Number(m[1]) : null
}

async function refreshApi(name: string): Promise<void> {
  const p = await mappedPort(name, 8080)
  if (p !== null) api.set(name, `http://127.0.0.1:${p}`)
}

const dump = (name: string): Promise<Row[]> => dumpKv(api.get(name), name, 10_000)

/**
 * Workers cut off from the test network: their mapped ports do not answer then (docker drops
 * the mapping), so their writes go through `docker exec` to their own API, and both sides of
 * the partition take writes.
 */
const partitioned = new Set<string>()

/** A `node -e` script that posts `body` to the container's own API and prints "status\nbody". */
function postScript(body: string): string {
  return `fetch('http://127.0.0.1:8080/v1/transactions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(
    body,
  )}, signal: AbortSignal.timeout(${REQUEST_TIMEOUT_MS}) }).then(async (r) => process.stdout.write(r.status + '\\n' + (await r.text())), (e) => { console.error(e); process.exit(1) })`
}

async function post(name: string, body: string): Promise<{ status: number; text: string }> {
  if (partitioned.has(name)) {
    const out = await docker(['exec', name, 'node', '-e', postScript(body)], REQUEST_TIMEOUT_MS + 5_000)
    const nl = out.indexOf('\n')
    return { status: Number(out.slice(0, nl)), text: out.slice(nl + 1) }
  }
  const base = api.get(name)
  if (base === undefined)
    throw Object.assign(new Error('no mapped port'), { cause: { code: 'ECONNREFUSED' } })
  const res = await fetch(`${base}/v1/transactions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  return { status: res.status, text: await res.text() }
}

/** One transaction of the workload, recorded as the chaos campaign records it. */
async function send(name: string, statements: unknown[]): Promise<Outcome> {
  try {
    const res = await post(name, JSON.stringify(statements))
    const text = res.text
    if (res.status === 200) {
      const body = JSON.parse(text) as {
        version: number | null
        actor_id: string
        results: { rows_affected: number }[]
      }
      return {
        status: 'ok',
        actor: body.actor_id,
        version: body.version,
        rowsAffected: body.results.map((r) => r.rows_affected),
      }
    }
    if (res.status >= 400 && res.status < 500) return { status: 'failed', error: `${res.status} ${text}` }
    return { status: 'unknown', error: `${res.status} ${text}` }
  } catch (err) {
    // Refused: nothing listens (stopped container), so nothing was sent. Anything else
    // (docker-proxy accepted then reset, a paused worker's timeout, a failed docker exec)
    // may have been applied.
    const code = (err as { cause?: { code?: string } }).cause?.code
    return code === 'ECONNREFUSED'
      ? { status: 'failed', error: 'connection refused' }
      : { status: 'unknown', error: String((err as Error).message) }
  }
}

const { ready } = dockerSuite({
  async setup() {
    await prepareImageRun(IMAGE, NET, RUN)
    for (const w of WORKERS) started.push(await startWorker(w))
    for (const w of WORKERS) await refreshApi(w)
  },
  async teardown(suite) {
    // `docker rm -f` also removes paused and disconnected containers; the label finds them all.
    await removeLabelled(TEST_LABEL, RUN).catch((err: unknown) => {
      if (!suite.failed) throw err
    })
  },
})

type Fault = 'kill' | 'pause' | 'partition'

describe(`container fault campaign (seed ${SEED})`, () => {
  it('acknowledged writes survive kills, pauses and partitions, and every worker converges', async () => {
    ready()
    const wall = Date.now()
    const log: string[] = []
    const note = (line: string): void => {
      log.push(`${((Date.now() - wall) / 1000).toFixed(1)}s ${line}`)
    }
    const context = (): string => `seed ${SEED} (rerun with PATINA_CHAOS_SEED=${SEED})\n${log.join('\n')}`

    const writes: WriteRecord[] = []
    const faults: Record<Fault, number> = { kill: 0, pause: 0, partition: 0 }
    let tick = 0
    let nextOp = 0
    /** Writes acknowledged by a worker while it was cut off from the others. */
    let isolatedAcks = 0
    const faultEnd = Date.now() + FAULT_MS

    const writer = async (): Promise<void> => {
      while (Date.now() < faultEnd) {
        const op = makeOp(SEED, nextOp++, { workers: WORKERS.length, keys: KEYS })
        const name = WORKERS[op.worker]!
        const issuedAt = ++tick
        const cutOff = partitioned.has(name)
        const outcome = await send(name, op.steps.map(stepSql))
        if (cutOff && outcome.status === 'ok') isolatedAcks++
        writes.push({ op, workerName: name, issuedAt, answeredAt: ++tick, outcome })
        // A failed write returns at once: do not spin on a stopped worker.
        await sleep(outcome.status === 'ok' ? 20 : 200)
      }
    }

    const nemesis = async (r: () => number): Promise<void> => {
      await sleep(1500)
      const kinds: Fault[] = ['kill', 'pause', 'partition']
      for (let i = 0; Date.now() < faultEnd - 2000; i++) {
        // The first three rounds do one of each, then at random.
        const kind = i < kinds.length ? kinds[i]! : pick(r, kinds)
        const victim = pick(r, WORKERS)
        const hold = between(r, 1000, 4000)
        faults[kind]++
        note(`nemesis: ${kind} ${victim} for ${hold} ms`)
        if (kind === 'kill') {
          await docker(['kill', victim])
          await sleep(hold)
          await docker(['start', victim])
        } else if (kind === 'pause') {
          await docker(['pause', victim])
          await sleep(hold)
          await docker(['unpause', victim])
        } else {
          await docker(['network', 'disconnect', NET, victim])
          partitioned.add(victim)
          await sleep(hold)
          partitioned.delete(victim)
          await docker(['network', 'connect', NET, victim])
        }
        await refreshApi(victim)
        await sleep(between(r, 500, 2000))
      }
    }

    await Promise.all([nemesis(rng(SEED ^ 0x6e656d)), ...Array.from({ length: WRITERS }, () => writer())])

    // --- heal: every worker running, unpaused and on the network (the nemesis left it so;
    // this makes sure), then wait for identical contents on all three.
    for (const w of WORKERS) {
      const state = await docker(['inspect', '-f', '{{.State.Status}}', w])
      if (state === 'paused') await docker(['unpause', w])
      else if (state !== 'running') await docker(['start', w])
      await refreshApi(w)
    }
    const counted = (s: Outcome['status']): number => writes.filter((w) => w.outcome.status === s).length
    note(
      `faults stopped: ${JSON.stringify(faults)}; ${writes.length} writes, ${counted('ok')} acknowledged, ${counted('failed')} failed, ${counted('unknown')} indeterminate, ${isolatedAcks} acknowledged by a cut-off worker`,
    )

    let dumps: Row[][] = []
    const converged = await waitFor(
      'every worker to hold the same rows',
      async () => {
        for (const w of WORKERS) if (!api.has(w)) await refreshApi(w)
        dumps = await Promise.all(WORKERS.map(dump))
        const first = JSON.stringify(dumps[0])
        return dumps.every((d) => JSON.stringify(d) === first)
      },
      { timeoutMs: HEAL_MS, intervalMs: 1000 },
    ).catch((err: unknown) => {
      note(`not converged: ${String(err)}`)
      return false
    })
    note(`healed after ${((Date.now() - wall) / 1000).toFixed(1)} s of the test`)
    expect(converged, `workers differ after healing: ${JSON.stringify(dumps)}\n${context()}`).toBe(true)
    const final = dumps[0] ?? []

    // The campaign did something: each fault ran and writes were acknowledged around them.
    expect(faults.kill * faults.pause * faults.partition, context()).toBeGreaterThan(0)
    expect(counted('ok'), context()).toBeGreaterThan(30)

    // The history checks of the chaos library.
    const violations = checkHistory(writes, final)
    const keys = [...new Set(violations.flatMap((v) => v.keys))]
    expect(
      violations.map((v) => `${v.kind}: ${v.detail}`),
      `${context()}\nhistory of the keys involved:\n${minimalHistory(writes, keys).join('\n')}`,
    ).toEqual([])

    // The reference model over every surviving change, fetched with the sync exchange from
    // each worker's mapped gossip port, gives exactly the workers' rows.
    const recorder = await createRecorder()
    try {
      for (const w of WORKERS) {
        const port = await mappedPort(w, 8787)
        let ok = false
        for (let attempt = 0; attempt < 10 && !ok && port !== null; attempt++) {
          ok = await recorder.syncFrom(`127.0.0.1:${port}`)
          if (!ok) await sleep(500)
        }
        expect(
          ok,
          `recorder sync from ${w} (port ${port}): ${JSON.stringify(recorder.stats)}\n${context()}`,
        ).toBe(true)
      }
      expect(recorder.history.length, context()).toBeGreaterThan(0)
      expect(modelKv(recorder.history), `reference model vs the workers' rows\n${context()}`).toEqual(final)
    } finally {
      await recorder.stop()
    }
    console.log(
      `container chaos: seed ${SEED}, ${((Date.now() - wall) / 1000).toFixed(1)} s\n${log.join('\n')}`,
    )
  }, 240_000)
})
