/**
 * The campaign's nemesis: two seeded lanes so that faults overlap (a partition while a worker
 * is down, …).
 * - process lane: SIGKILL and restart one worker; restart a random subset at once, the
 *   workers coming back in random order; SIGSTOP/SIGCONT (a blocked event loop); wall-clock
 *   steps;
 * - network lane (in the TCP path between gossip ports): two-way partitions; one-way cuts;
 *   isolating one worker until every other worker declares it down, then healing.
 */
import type { PartitionNet } from './partition-net.js'
import type { ChaosWorker } from './procs.js'
import { between, pick, rng } from './workload.js'
import { sleep } from '../../helpers/wait.js'

export type FaultKind = 'kill' | 'restart-subset' | 'pause' | 'skew' | 'partition' | 'one-way' | 'isolate'

export const FAULT_KINDS: readonly FaultKind[] = [
  'kill',
  'restart-subset',
  'pause',
  'skew',
  'partition',
  'one-way',
  'isolate',
]

export interface NemesisOptions {
  seed: number
  workers: ChaosWorker[]
  net: PartitionNet
  /** Faults start before this time (ms since the epoch). */
  faultEnd: number
  faults: Record<FaultKind, number>
  log: (line: string) => void
  /** Called just before a worker is killed (to read its counters while it still answers). */
  beforeKill: (w: ChaosWorker) => Promise<void>
  /** The longest an isolated worker stays cut off waiting to be declared down, ms. */
  isolateMaxMs?: number
}

/** The state `observer` holds for the worker whose actor is `actor`, or null when it does not answer. */
async function stateSeenBy(observer: ChaosWorker, actor: string): Promise<string | null> {
  try {
    const r = await fetch(`${observer.apiUrl}/v1/cluster/members`, { signal: AbortSignal.timeout(3000) })
    const body = (await r.json()) as { members: { actor_id: string; state: string }[] }
    return body.members.find((m) => m.actor_id === actor)?.state ?? null
  } catch {
    return null
  }
}

async function actorOf(w: ChaosWorker): Promise<string | null> {
  try {
    const r = await fetch(`${w.apiUrl}/v1/cluster/members`, { signal: AbortSignal.timeout(3000) })
    const body = (await r.json()) as { members: { actor_id: string; self: boolean }[] }
    return body.members.find((m) => m.self)?.actor_id ?? null
  } catch {
    return null
  }
}

export async function runNemesis(o: NemesisOptions): Promise<void> {
  const { workers, net, faultEnd, faults, log } = o
  const names = workers.map((w) => w.name)

  const kill = async (w: ChaosWorker): Promise<void> => {
    await o.beforeKill(w)
    await w.signal('SIGKILL')
    net.setPid(w.name, undefined)
  }

  const processLane = async (r: () => number): Promise<void> => {
    await sleep(1000)
    while (Date.now() < faultEnd - 1000) {
      const kind = pick<FaultKind>(r, ['kill', 'kill', 'restart-subset', 'pause', 'skew'])
      const hold = between(r, 1000, 4000)
      const w = pick(r, workers)
      faults[kind]++
      if (kind === 'kill') {
        log(`nemesis: SIGKILL ${w.name} for ${hold} ms`)
        await kill(w)
        await sleep(hold)
        const t0 = Date.now()
        await w.start()
        log(`nemesis: ${w.name} answers again ${Date.now() - t0} ms after its restart`)
      } else if (kind === 'restart-subset') {
        const subset = [...workers].sort(() => r() - 0.5).slice(0, between(r, 2, workers.length - 1))
        const order = [...subset].sort(() => r() - 0.5)
        log(
          `nemesis: SIGKILL ${subset.map((x) => x.name).join(',')} at once; back in order ${order.map((x) => x.name).join(',')}`,
        )
        await Promise.all(subset.map(kill))
        await sleep(hold)
        // launched one after the other at random short intervals, each without waiting for the previous
        const started: Promise<void>[] = []
        for (const x of order) {
          started.push(x.start())
          await sleep(between(r, 0, 800))
        }
        await Promise.all(started)
      } else if (kind === 'pause') {
        log(`nemesis: SIGSTOP ${w.name} for ${hold} ms`)
        await w.signal('SIGSTOP')
        await sleep(hold)
        await w.signal('SIGCONT')
      } else {
        const offset = (r() < 0.5 ? -1 : 1) * between(r, 1000, 300_000)
        log(`nemesis: ${w.name} wall clock ${offset > 0 ? '+' : ''}${offset} ms`)
        await w.skew(offset)
      }
      await sleep(between(r, 300, 2000))
    }
  }

  const isolateUntilDown = async (victim: ChaosWorker): Promise<void> => {
    const actor = await actorOf(victim)
    const others = workers.filter((w) => w !== victim)
    net.partition(
      [victim.name],
      others.map((w) => w.name),
    )
    // bounded, and never much past the end of the fault phase (the CI run has a time budget)
    const deadline = Math.min(
      Date.now() + (o.isolateMaxMs ?? 20_000),
      Math.max(Date.now() + 2000, faultEnd + 3000),
    )
    let declared = false
    while (actor !== null && !declared && Date.now() < deadline) {
      await sleep(250)
      const states = await Promise.all(others.filter((w) => w.alive).map((w) => stateSeenBy(w, actor)))
      declared = states.length > 0 && states.every((s) => s === 'down' || s === null)
    }
    log(
      `nemesis: ${victim.name} ${declared ? 'declared down by the others' : 'not declared down in time'}; healing`,
    )
  }

  const networkLane = async (r: () => number): Promise<void> => {
    await sleep(1500)
    while (Date.now() < faultEnd - 1000) {
      const hold = between(r, 1000, 5000)
      const roll = r()
      if (roll < 0.45) {
        faults.partition++
        const shuffled = [...names].sort(() => r() - 0.5)
        const cut = between(r, 1, names.length - 1)
        const a = shuffled.slice(0, cut)
        const b = shuffled.slice(cut)
        log(`nemesis: partition ${a.join(',')} | ${b.join(',')} for ${hold} ms`)
        net.partition(a, b)
        await sleep(hold)
      } else if (roll < 0.75) {
        faults['one-way']++
        const from = pick(r, names)
        const tos = names.filter((n) => n !== from && r() < 0.6)
        log(`nemesis: one-way ${from} -> ${tos.join(',') || '(none)'} for ${hold} ms`)
        for (const to of tos) net.cut(from, to)
        await sleep(hold)
      } else {
        faults.isolate++
        const victim = pick(r, workers)
        log(`nemesis: isolate ${victim.name} until the others declare it down`)
        await isolateUntilDown(victim)
      }
      net.heal()
      await sleep(between(r, 300, 2000))
    }
  }

  await Promise.all([processLane(rng(o.seed ^ 0x6e656d)), networkLane(rng(o.seed ^ 0x6e6574))])
}
