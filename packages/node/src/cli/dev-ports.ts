/**
 * The ports of `patina dev`: which ones a plan listens on, whether they are free before anything
 * starts, what to say when one is taken, and how to tell our worker from whatever else answers
 * on its API port. The decisions are pure; {@link takenPorts} and {@link suggestBasePort} probe
 * by listening.
 */
import { createServer } from 'node:net'
import type { DevPlan } from './dev-plan.js'

/** Every dev node listens on 127.0.0.1. */
export const DEV_HOST = '127.0.0.1'

export interface DevPort {
  port: number
  /** What listens there, e.g. `worker-1 API`, `worker-1 gossip`, `edge-1 HTTP`. */
  what: string
}

/** The ports a plan listens on, workers first (API, gossip), then edges. */
export function devPorts(plan: DevPlan): DevPort[] {
  return [
    ...plan.workers.flatMap((w) => [
      { port: w.apiPort, what: `${w.name} API` },
      { port: w.gossipPort, what: `${w.name} gossip` },
    ]),
    ...plan.edges.map((e) => ({ port: e.port, what: `${e.name} HTTP` })),
  ]
}

/** The ports of a `--base-port` plan: APIs `base+i`, gossip `base+100+i`, edges `base+200+j`. */
export function basePorts(base: number, workers: number, edges: number): number[] {
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i)
  return [...range(base, workers), ...range(base + 100, workers), ...range(base + 200, edges)]
}

const span = (from: number, n: number) => (n === 1 ? `${from}` : `${from}-${from + n - 1}`)

/**
 * The message for ports that are already taken: which port, what needed it, and the flag that
 * moves it (with a base whose ports were all free a moment ago, when one was found).
 */
export function portsTakenMessage(
  taken: readonly DevPort[],
  opts: { basePort?: number; workers: number; edges: number; suggestion?: number },
): string {
  const list = taken.map((t) => `${t.port} (${t.what})`).join(', ')
  const head = `${taken.length === 1 ? 'port' : 'ports'} ${list} on ${DEV_HOST} ${taken.length === 1 ? 'is' : 'are'} already in use by another program.`
  if (opts.basePort === undefined)
    return `${head} They were free a moment ago; run patina dev again to pick other free ports.`
  const b = opts.basePort
  const uses =
    `--base-port ${b} uses ${span(b, opts.workers)} (API), ${span(b + 100, opts.workers)} (gossip)` +
    (opts.edges > 0 ? ` and ${span(b + 200, opts.edges)} (edge)` : '')
  const move =
    opts.suggestion !== undefined
      ? `choose another base with --base-port (e.g. --base-port ${opts.suggestion}, free now)`
      : 'choose another base with --base-port'
  return `${head} ${uses}: ${move}, or leave out --base-port to use free ports.`
}

/** What answered on a worker's API port. */
export type WorkerAnswer =
  /** A Patina worker whose own gossip address is the one we gave this worker. */
  | 'ours'
  /** A Patina worker still starting: its API listens, its cluster (member list) is not up yet. */
  | 'starting'
  /** A Patina worker, but another one (its gossip port differs). */
  | 'other-patina'
  /** Something that is not a Patina worker. */
  | 'not-patina'

/**
 * Classifies the answer to `GET /v1/cluster/members`: a Patina worker answers 200 with
 * `{"members":[...]}` where the entry with `self: true` lists its gossip addresses; ours is the
 * one listening on `gossipPort`. An agent answers `{"members":[]}` (no self entry, or one without
 * addresses) for the moment between its API listening and its cluster starting. Any other answer
 * (another server's page, a 404, bad JSON) is not a Patina worker.
 */
export function classifyWorkerAnswer(status: number, body: string, gossipPort: number): WorkerAnswer {
  if (status !== 200) return 'not-patina'
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return 'not-patina'
  }
  const members = (parsed as { members?: unknown } | null)?.members
  if (!Array.isArray(members)) return 'not-patina'
  const self = members.find(
    (m): m is { gossip_addrs?: unknown } =>
      typeof m === 'object' && m !== null && (m as { self?: unknown }).self === true,
  )
  const addrs = self?.gossip_addrs
  if (!Array.isArray(addrs) || addrs.length === 0) return 'starting'
  const onPort = (a: unknown) =>
    typeof a === 'string' && (a.endsWith(`:${gossipPort}`) || new RegExp(`/tcp/${gossipPort}(/|$)`).test(a))
  return addrs.some(onPort) ? 'ours' : 'other-patina'
}

/** Whether `port` can be listened on at {@link DEV_HOST} right now (listens, then closes). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, DEV_HOST, () => s.close(() => resolve(true)))
  })
}

/** The ports of `ports` that something else listens on. */
export async function takenPorts(ports: readonly DevPort[]): Promise<DevPort[]> {
  const free = await Promise.all(ports.map((p) => portFree(p.port)))
  return ports.filter((_, i) => !free[i])
}

/** A base port above `from` (by 1000, at most 10 tries) whose dev ports are all free now. */
export async function suggestBasePort(
  from: number,
  workers: number,
  edges: number,
): Promise<number | undefined> {
  for (let base = from + 1000, tries = 0; tries < 10 && base <= 65000; base += 1000, tries++) {
    const free = await Promise.all(basePorts(base, workers, edges).map(portFree))
    if (free.every(Boolean)) return base
  }
  return undefined
}
