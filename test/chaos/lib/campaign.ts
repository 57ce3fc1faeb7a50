/**
 * A fault campaign against a real multi-process cluster on loopback: `workers` agents and
 * `edges` edge daemons, a seeded random workload on random workers, and a seeded nemesis
 * (`nemesis.ts`) that kills (SIGKILL) and restarts workers one at a time or a random subset at
 * once (back in random order), pauses them (SIGSTOP/SIGCONT), partitions them (two-way and
 * one-way, in the TCP path between their gossip ports), isolates one until the others declare
 * it down, and steps their wall clocks. Then the faults stop, the cluster heals, and the
 * checker runs: one cluster again, every acknowledged write everywhere, the reference model,
 * the history checks, edges and subscriptions (see `history.ts`). Membership flaps are counted
 * throughout (`membership-watch.ts`).
 *
 * Entry points: `test/chaos/multiprocess.test.ts` (short, in CI) and `scripts/chaos.ts`
 * (`pnpm chaos --seed S --minutes M`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../helpers/process.js'
import {
  checkHistory,
  minimalHistory,
  type Outcome,
  type Row,
  type Violation,
  type WriteRecord,
} from './history.js'
import { modelKv } from './model.js'
import { createMembershipWatch, oneClusterProblems, type MembershipFigures } from './membership-watch.js'
import { FAULT_KINDS, runNemesis, type FaultKind } from './nemesis.js'
import { createPartitionNet, type PartitionNet } from './partition-net.js'
import { createRecorder, type Recorder } from './recorder.js'
import { ChaosEdge, ChaosWorker } from './procs.js'
import { SubscriptionFollower } from './subscription.js'
import { canon, dump, exactDump, missingVersions, postTyped, sleep, waitUntil } from './inspect.js'
import { CHAOS_QUERY, CHAOS_SCHEMA, makeOp, stepSql, typedOp } from './workload.js'

export type { FaultKind } from './nemesis.js'

export interface CampaignOptions {
  seed: number
  /** Length of the fault phase, ms (the workload runs during it). */
  faultMs: number
  workers?: number
  edges?: number
  keys?: number
  /** Writers running at once. */
  concurrency?: number
  /** Deadline for convergence after healing, ms. */
  healTimeoutMs?: number
  log?: (line: string) => void
  /** Keep the data directory (for post-mortems). */
  keepDir?: boolean
}

export const CAMPAIGN_DEFAULTS = {
  workers: 5,
  edges: 2,
  keys: 30,
  concurrency: 4,
  healTimeoutMs: 180_000,
} as const

export interface CampaignReport {
  seed: number
  faultMs: number
  wallMs: number
  faults: Record<FaultKind, number>
  writes: { attempted: number; acknowledged: number; failed: number; unknown: number }
  /** Acknowledged writes missing somewhere after healing, or lost by the history checks. */
  lost: number
  /** Workers whose final contents differ from the others' (0 when converged). */
  divergences: number
  /** Membership over the whole run: flaps (false positives) and transitions, summed over workers. */
  membership: MembershipFigures
  subscriptions: { followers: number; resumes: number; changes: number; lost: number }
  edges: number
  /** Changesets the sync-only recorder collected (the history the reference model is applied to). */
  recorded: { changesets: number; sessions: number }
  partitionNet: ReturnType<PartitionNet['stats']>
  violations: Violation[]
  /** The history around the violations (empty when clean). */
  history: string[]
  dir?: string
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignReport> {
  const opts = { ...CAMPAIGN_DEFAULTS, ...o }
  const log = o.log ?? (() => undefined)
  const started = Date.now()
  const dir = mkdtempSync(join(tmpdir(), `patina-chaos-${o.seed}-`))
  const schemaPath = join(dir, 'schema.sql')
  writeFileSync(schemaPath, CHAOS_SCHEMA)
  const net = createPartitionNet()
  const workers: ChaosWorker[] = []
  const edges: ChaosEdge[] = []
  const followers: SubscriptionFollower[] = []
  let recorder: Recorder | undefined
  let watch = createMembershipWatch([])
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>
  const writes: WriteRecord[] = []
  const violations: Violation[] = []
  let tick = 0

  try {
    // --- cluster
    const gossipPorts: number[] = []
    const proxyPorts: number[] = []
    for (let i = 0; i < opts.workers; i++) {
      const g = await freePort()
      gossipPorts.push(g)
      proxyPorts.push(await net.add(`w${i}`, g))
    }
    for (let i = 0; i < opts.workers; i++) {
      workers.push(
        new ChaosWorker({
          name: `w${i}`,
          home: join(dir, `w${i}`),
          schemaPath,
          apiPort: await freePort(),
          gossipPort: gossipPorts[i] as number,
          proxyPort: proxyPorts[i] as number,
          bootstrap: proxyPorts.filter((_, j) => j !== i).map((p) => `127.0.0.1:${p}`),
        }),
      )
    }
    for (const w of workers) w.onSpawn = (pid) => net.setPid(w.name, pid)
    await Promise.all(workers.map((w) => w.start()))
    watch = createMembershipWatch(workers)
    watch.start()
    const members = watch
    log(`cluster up: ${workers.map((w) => `${w.name} ${w.apiUrl}`).join(', ')}`)
    for (let e = 0; e < opts.edges; e++) {
      const edge = new ChaosEdge({
        name: `e${e}`,
        home: join(dir, `e${e}`),
        port: await freePort(),
        workers: workers.map((w) => w.apiUrl),
        query: CHAOS_QUERY,
        key: ['k'],
      })
      await edge.start()
      edges.push(edge)
    }
    for (const w of workers) {
      const f = new SubscriptionFollower(w.name, () => w.apiUrl, CHAOS_QUERY)
      f.start()
      followers.push(f)
    }

    recorder = await createRecorder()
    const rec = recorder
    const recordFrom = (i: number): Promise<boolean> => rec.syncFrom(`127.0.0.1:${gossipPorts[i]}`)

    // --- workload
    const faultEnd = Date.now() + o.faultMs
    const recording = async (): Promise<void> => {
      for (let i = 0; Date.now() < faultEnd; i++) {
        await recordFrom(i % opts.workers)
        await sleep(100)
      }
    }
    const typedAcked: [string, number][] = [] // acknowledged typed-table writes: they must arrive too
    let nextTyped = 0
    const typedWriter = async (): Promise<void> => {
      while (Date.now() < faultEnd) {
        const op = typedOp(o.seed, nextTyped++, opts.workers)
        const acked = await postTyped(workers[op.worker] as ChaosWorker, op.sql)
        if (acked !== null) typedAcked.push(acked)
        await sleep(25)
      }
    }
    let nextOp = 0
    const writer = async (): Promise<void> => {
      while (Date.now() < faultEnd) {
        const op = makeOp(o.seed, nextOp++, { workers: opts.workers, keys: opts.keys })
        const w = workers[op.worker] as ChaosWorker
        const issuedAt = ++tick
        let outcome: Outcome
        try {
          const res = await fetch(`${w.apiUrl}/v1/transactions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(op.steps.map(stepSql)),
            signal: AbortSignal.timeout(5000),
          })
          const text = await res.text()
          if (res.status === 200) {
            const body = JSON.parse(text) as {
              version: number | null
              actor_id: string
              results: { rows_affected: number }[]
            }
            outcome = {
              status: 'ok',
              actor: body.actor_id,
              version: body.version,
              rowsAffected: body.results.map((r) => r.rows_affected),
            }
          } else if (res.status >= 400 && res.status < 500)
            outcome = { status: 'failed', error: `${res.status} ${text}` }
          else outcome = { status: 'unknown', error: `${res.status} ${text}` }
        } catch (err) {
          const code = (err as { cause?: { code?: string } }).cause?.code
          outcome =
            code === 'ECONNREFUSED'
              ? { status: 'failed', error: 'connection refused' }
              : { status: 'unknown', error: String((err as Error).message ?? err) }
        }
        writes.push({ op, workerName: w.name, issuedAt, answeredAt: ++tick, outcome })
        await sleep(10)
      }
    }

    const nemesis = (): Promise<void> =>
      runNemesis({
        seed: o.seed,
        workers,
        net,
        faultEnd,
        faults,
        log,
        beforeKill: (w) => members.scrape(w),
      })

    await Promise.all([
      nemesis(),
      recording(),
      typedWriter(),
      ...Array.from({ length: opts.concurrency }, () => writer()),
    ])

    // --- heal
    net.heal()
    for (const w of workers) {
      if (w.alive) await w.signal('SIGCONT')
      else await w.start()
    }
    const acked = writes.filter((w) => w.outcome.status === 'ok')
    log(`faults stopped after ${writes.length} writes (${acked.length} acknowledged); healing`)

    // 1. one cluster again, convergence and durability
    const healStart = Date.now()
    let dumps: Row[][] = []
    let exact: string[] = []
    let missing: string[][] = []
    let split: string[] = []
    const ackedVersions = [
      ...acked.flatMap((w) =>
        w.outcome.status === 'ok' && w.outcome.version !== null
          ? [[w.outcome.actor, w.outcome.version] as const]
          : [],
      ),
      ...typedAcked,
    ]
    const converged = await waitUntil('convergence', opts.healTimeoutMs, async () => {
      split = await oneClusterProblems(workers)
      dumps = await Promise.all(workers.map(dump))
      exact = await Promise.all(workers.map(exactDump))
      missing = await Promise.all(workers.map((w) => missingVersions(w, ackedVersions)))
      return split.length === 0 && exact.every((d) => d === exact[0]) && missing.every((m) => m.length === 0)
    })
    log(
      `${converged ? 'one cluster and converged' : 'not converged'} ${((Date.now() - healStart) / 1000).toFixed(1)} s after healing`,
    )
    if (split.length > 0)
      violations.push({
        kind: 'membership',
        detail: `the workers are not one cluster after healing: ${split.slice(0, 10).join('; ')}`,
        keys: [],
      })
    let divergences = 0
    let lost = 0
    if (!converged) {
      const counts = new Map<string, number>()
      for (const d of dumps) counts.set(canon(d), (counts.get(canon(d)) ?? 0) + 1)
      const majority = [...counts.entries()].sort((x, y) => y[1] - x[1])[0]?.[0]
      divergences = dumps.filter((d) => canon(d) !== majority).length || (dumps.length > 0 ? 0 : 1)
      const keys = new Set<number>()
      dumps.forEach((d, i) => {
        if (canon(d) === majority) return
        const mine = new Map(d.map((row) => [row.k, JSON.stringify(row)]))
        const theirs = new Map(
          (JSON.parse(majority ?? '[]') as Row[]).map((row) => [row.k, JSON.stringify(row)]),
        )
        for (const k of new Set([...mine.keys(), ...theirs.keys()]))
          if (mine.get(k) !== theirs.get(k)) keys.add(k)
        violations.push({
          kind: 'divergence',
          detail: `${workers[i]?.name} differs from the majority on keys ${[...keys].slice(0, 10).join(',')}`,
          keys: [...keys],
        })
      })
      // storage classes and the typed tables: exact cells, which the kv rows above (JSON) cannot show
      exact.forEach((d, i) => {
        if (d === exact[0] || canon(dumps[i] ?? []) !== canon(dumps[0] ?? [])) return
        const theirs = new Set((exact[0] ?? '').split('\n'))
        divergences++
        violations.push({
          kind: 'divergence',
          detail: `${workers[i]?.name} differs from ${workers[0]?.name} in exact cells, e.g. ${d
            .split('\n')
            .filter((row) => !theirs.has(row))
            .slice(0, 3)
            .join('; ')}`,
          keys: [],
        })
      })
      missing.forEach((m, i) => {
        if (m.length === 0) return
        lost = Math.max(lost, m.length)
        violations.push({
          kind: 'missing-version',
          detail: `${workers[i]?.name} lacks ${m.length} acknowledged versions after healing: ${m.slice(0, 10).join(', ')}`,
          keys: [],
        })
      })
    }
    const final = dumps[0] ?? []

    // 2a. the reference model of the merge rules over the recorded history gives the workers' rows
    for (let i = 0; i < workers.length; i++) {
      for (let attempt = 0; attempt < 10 && !(await recordFrom(i)); attempt++) await sleep(500)
    }
    const expected = modelKv(rec.history)
    if (canon(expected) !== canon(final)) {
      const have = new Map(final.map((x) => [x.k, JSON.stringify(x)]))
      const want = new Map(expected.map((x) => [x.k, JSON.stringify(x)]))
      const keys = [...new Set([...have.keys(), ...want.keys()])].filter((k) => have.get(k) !== want.get(k))
      violations.push({
        kind: 'model',
        detail: `the workers' rows differ from the reference model over ${rec.history.length} recorded changesets on ${keys
          .slice(0, 5)
          .map((k) => `k=${k}: have ${have.get(k) ?? 'none'}, model ${want.get(k) ?? 'none'}`)
          .join('; ')}`,
        keys,
      })
    }
    // 2b. a recorded version carries the values its acknowledged write wrote, nothing else
    const byVersion = new Map<string, WriteRecord>()
    for (const w of acked)
      if (w.outcome.status === 'ok') byVersion.set(`${w.outcome.actor}/${w.outcome.version}`, w)
    for (const cs of rec.history) {
      const w = byVersion.get(`${cs.actorId}/${cs.version}`)
      if (w === undefined) continue
      const tokens = new Set(
        w.op.steps.flatMap((st) => (st.kind === 'insert' ? [st.a, st.b] : 'token' in st ? [st.token] : [])),
      )
      for (const c of cs.changes) {
        if (typeof c.val === 'string' && !tokens.has(c.val))
          violations.push({
            kind: 'version-content',
            detail: `version ${cs.actorId.slice(0, 8)}/${cs.version} (op ${w.op.id}) carries ${c.cid} = ${c.val}, which op ${w.op.id} did not write`,
            keys: w.op.steps.map((st) => st.k),
          })
      }
    }

    // 2. history checks
    const hv = checkHistory(writes, final)
    violations.push(...hv)
    lost += hv.filter((v) => v.kind !== 'phantom-row' && v.kind !== 'phantom-value').length

    // 3. edges see what the workers hold
    const want = canon(final)
    for (const e of edges) {
      let got = ''
      const ok = await waitUntil(`${e.name} view`, 60_000, async () => {
        const v = await e.view()
        const rows = v.rows
          .map((x) => ({
            k: Number(x['k']),
            a: x['a'] as string | null,
            b: x['b'] as string | null,
            n: Number(x['n']),
          }))
          .sort((x, y) => x.k - y.k)
        got = canon(rows)
        return got === want
      })
      if (!ok)
        violations.push({
          kind: 'edge-view',
          detail: `${e.name}'s view differs from the workers': ${got.slice(0, 300)}`,
          keys: [],
        })
    }

    // 4. every subscription's replayed log equals its query
    for (const f of followers) {
      let got = ''
      const ok = await waitUntil(`${f.workerName} subscription`, 60_000, async () => {
        got = JSON.stringify(f.snapshot())
        return got === JSON.stringify(final.map((x) => [x.k, x.a, x.b, x.n]))
      })
      if (!ok)
        violations.push({
          kind: 'subscription-replay',
          detail: `${f.workerName}: replayed subscription differs from the query: ${got.slice(0, 300)}`,
          keys: [],
        })
      for (const p of f.problems) violations.push({ kind: 'subscription-log', detail: p, keys: [] })
    }

    const counted = (s: Outcome['status']): number => writes.filter((w) => w.outcome.status === s).length
    const subsStats = followers.reduce(
      (acc, f) => ({
        followers: acc.followers + 1,
        resumes: acc.resumes + f.stats.resumes,
        changes: acc.changes + f.stats.changes,
        lost: acc.lost + f.stats.lost,
      }),
      { followers: 0, resumes: 0, changes: 0, lost: 0 },
    )
    const keys = [...new Set(violations.flatMap((v) => v.keys))]
    return {
      seed: o.seed,
      faultMs: o.faultMs,
      wallMs: Date.now() - started,
      faults,
      writes: {
        attempted: writes.length,
        acknowledged: counted('ok'),
        failed: counted('failed'),
        unknown: counted('unknown'),
      },
      lost,
      divergences,
      membership: await (async () => {
        await watch.stop()
        return watch.figures()
      })(),
      subscriptions: subsStats,
      edges: edges.length,
      recorded: { changesets: rec.history.length, sessions: rec.stats.sessions },
      partitionNet: net.stats(),
      violations,
      history: violations.length > 0 ? minimalHistory(writes, keys) : [],
      ...(o.keepDir ? { dir } : {}),
    }
  } finally {
    await watch.stop()
    await Promise.allSettled(followers.map((f) => f.stop()))
    await recorder?.stop().catch(() => undefined)
    await Promise.allSettled([...edges, ...workers].map((c) => c.stop()))
    await net.close()
    if (!o.keepDir) rmSync(dir, { recursive: true, force: true })
  }
}

/** One-paragraph summary for logs and docs. */
export function formatReport(r: CampaignReport): string {
  const lines = [
    `seed ${r.seed}: ${(r.faultMs / 60_000).toFixed(1)} min of faults (${(r.wallMs / 60_000).toFixed(1)} min wall)`,
    `faults: ${Object.entries(r.faults)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `writes: ${r.writes.attempted} attempted, ${r.writes.acknowledged} acknowledged, ${r.writes.failed} failed, ${r.writes.unknown} indeterminate`,
    `subscriptions: ${r.subscriptions.followers} followed, ${r.subscriptions.resumes} resumes, ${r.subscriptions.changes} changes replayed, ${r.subscriptions.lost} lost`,
    `recorder: ${r.recorded.changesets} changesets in ${r.recorded.sessions} sync sessions (the reference model's input)`,
    `proxy: ${r.partitionNet.connections} connections, ${r.partitionNet.refused} refused, ${r.partitionNet.bytesDropped} bytes dropped, ${r.partitionNet.unidentified} unidentified`,
    `membership: ${r.membership.suspicions} suspicions, ${r.membership.downs} downs, flaps ${r.membership.flapsFromSuspect} from suspect and ${r.membership.flapsFromDown} from down (back alive without a restart)`,
    `writes lost: ${r.lost}, divergences: ${r.divergences}, violations: ${r.violations.length}`,
  ]
  for (const v of r.violations.slice(0, 30)) lines.push(`  ✗ ${v.kind}: ${v.detail}`)
  if (r.history.length > 0)
    lines.push(
      `history of the keys involved (replay with --seed ${r.seed}):`,
      ...r.history.map((l) => `  ${l}`),
    )
  return lines.join('\n')
}
