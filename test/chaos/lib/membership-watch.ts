/**
 * Membership during a campaign: the flap counters of every worker process (scraped from
 * `/metrics` every few seconds and just before each kill, summed over every process a worker
 * ran as), and the final check that the workers form one cluster again.
 */
import type { ChaosWorker } from './procs.js'

export interface MembershipFigures {
  /**
   * Members seen alive again, without a restart, after being held suspect: false suspicions
   * when nothing cut the member off, the expected outcome of a pause or a partition otherwise.
   */
  flapsFromSuspect: number
  /** …after being held down (after a pause, an isolation or a partition that lasted long enough). */
  flapsFromDown: number
  /** Every transition to suspect / down seen by any worker. */
  suspicions: number
  downs: number
}

export interface MembershipWatch {
  start(): void
  stop(): Promise<void>
  /** Read `w`'s counters now (just before it is killed). */
  scrape(w: ChaosWorker): Promise<void>
  figures(): MembershipFigures
}

const SERIES: Record<keyof MembershipFigures, RegExp> = {
  flapsFromSuspect: /^patina_membership_flaps_total\{from="suspect"\} (\d+)/m,
  flapsFromDown: /^patina_membership_flaps_total\{from="down"\} (\d+)/m,
  suspicions: /^patina_membership_transitions_total\{to="suspect"\} (\d+)/m,
  downs: /^patina_membership_transitions_total\{to="down"\} (\d+)/m,
}

export function createMembershipWatch(workers: readonly ChaosWorker[], everyMs = 2000): MembershipWatch {
  /** `<worker>#<pid>` → the last values read from that process. */
  const last = new Map<string, MembershipFigures>()
  let timer: ReturnType<typeof setInterval> | undefined
  let inFlight: Promise<unknown> = Promise.resolve()

  const scrape = async (w: ChaosWorker): Promise<void> => {
    const pid = w.pid
    if (!w.alive || pid === undefined) return
    try {
      const text = await (await fetch(`${w.apiUrl}/metrics`, { signal: AbortSignal.timeout(3000) })).text()
      const f = {} as MembershipFigures
      for (const [k, re] of Object.entries(SERIES))
        f[k as keyof MembershipFigures] = Number(re.exec(text)?.[1] ?? 0)
      last.set(`${w.name}#${pid}`, f)
    } catch {
      // paused, starting or gone: the last reading stands
    }
  }

  return {
    start() {
      timer = setInterval(() => {
        inFlight = Promise.all(workers.map(scrape))
      }, everyMs)
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer)
      await inFlight
      await Promise.all(workers.map(scrape))
    },
    scrape,
    figures() {
      const total: MembershipFigures = { flapsFromSuspect: 0, flapsFromDown: 0, suspicions: 0, downs: 0 }
      for (const f of last.values())
        for (const k of Object.keys(total) as (keyof MembershipFigures)[]) total[k] += f[k]
      return total
    },
  }
}

/**
 * What keeps the workers from being one cluster: every worker must list every worker
 * (itself included) as alive. Empty when they are one.
 */
export async function oneClusterProblems(workers: readonly ChaosWorker[]): Promise<string[]> {
  const views = await Promise.all(
    workers.map(async (w) => {
      const r = await fetch(`${w.apiUrl}/v1/cluster/members`, { signal: AbortSignal.timeout(5000) })
      const body = (await r.json()) as { members: { actor_id: string; state: string; self: boolean }[] }
      return body.members
    }),
  )
  const actors = views.map((v, i) => v.find((m) => m.self)?.actor_id ?? `(${workers[i]?.name}?)`)
  const problems: string[] = []
  views.forEach((v, i) => {
    for (const [j, actor] of actors.entries()) {
      const state = v.find((m) => m.actor_id === actor)?.state ?? 'unknown'
      if (state !== 'alive') problems.push(`${workers[i]?.name} sees ${workers[j]?.name} as ${state}`)
    }
  })
  return problems
}
