/**
 * Cluster formation scenarios on the in-memory network under virtual time: who bootstraps
 * from whom (a topology), in which order the nodes start, and a check that they end as one
 * cluster with every write everywhere.
 */
import { createMemoryNetwork, type MemoryNetwork } from '../../src/transport/memory.js'
import {
  createVirtualClock,
  randomInt,
  seededRandom,
  shuffled,
  type VirtualClock,
} from '../../src/runtime/clock.js'
import { dump, makeNode, rowCount, write, type TestNode } from '../helpers.js'

export type Topology = 'star' | 'chain' | 'reverse-chain' | 'one-other'
export type StartOrder = 'seed-first' | 'seed-last' | 'all-at-once' | 'random'

export interface Formation {
  n: number
  topology: Topology
  order: StartOrder
  seed: number
}

export interface Plan {
  /** Bootstrap entries of each node. */
  lists: string[][]
  /** Start order (node indexes) and the pause before each start, ms. */
  starts: { node: number; afterMs: number }[]
}

const name = (i: number): string => `n${i}`

/** Bootstrap lists and start order of a formation (deterministic per seed). */
export function planFormation(f: Formation): Plan {
  const r = seededRandom(f.seed)
  const idx = Array.from({ length: f.n }, (_, i) => i)
  let lists: string[][]
  let natural: number[]
  switch (f.topology) {
    case 'star': // everyone lists the seed n0
      lists = idx.map((i) => (i === 0 ? [] : [name(0)]))
      natural = idx
      break
    case 'chain': // n(i) lists n(i-1); n0 is the seed
      lists = idx.map((i) => (i === 0 ? [] : [name(i - 1)]))
      natural = idx
      break
    case 'reverse-chain': // n(i) lists n(i+1); the last node is the seed
      lists = idx.map((i) => (i === f.n - 1 ? [] : [name(i + 1)]))
      natural = [...idx].reverse()
      break
    case 'one-other': {
      // every node lists exactly one other, the whole graph connected: a random chain whose
      // first node lists a random other one
      const p = shuffled(idx, r)
      lists = idx.map(() => [])
      p.forEach((node, k) => {
        const other = k === 0 ? (p[1 + randomInt(r, f.n - 1)] as number) : (p[k - 1] as number)
        lists[node] = [name(other)]
      })
      natural = p
      break
    }
  }
  let order: number[]
  switch (f.order) {
    case 'seed-first':
    case 'all-at-once':
      order = natural
      break
    case 'seed-last':
      order = [...natural].reverse()
      break
    case 'random':
      order = shuffled(idx, r)
      break
  }
  return {
    lists,
    starts: order.map((node, k) => ({
      node,
      afterMs: f.order === 'all-at-once' || k === 0 ? 0 : randomInt(r, 2500),
    })),
  }
}

export interface FormationResult {
  /** Virtual ms from the last start until one cluster held every write everywhere, or null. */
  formedAfterMs: number | null
  detail: string
}

export interface FormationCluster {
  clock: VirtualClock
  net: MemoryNetwork
  nodes: TestNode[]
  /** Rows written so far (each node writes its own keys). */
  written: number
  writeOn(node: TestNode, count: number): void
  /** Every node sees every other alive, and holds the same `written` rows. */
  formed(): boolean
  stop(): Promise<void>
}

export function formationCluster(n: number, seed: number, lists: string[][]): FormationCluster {
  const clock = createVirtualClock()
  const net = createMemoryNetwork({ seed, clock, faults: { minDelayMs: 1, maxDelayMs: 10 } })
  const nodes = Array.from({ length: n }, (_, i) =>
    makeNode(name(i), net.newTransport(name(i)), { clock, random: net.random, bootstrap: lists[i] ?? [] }),
  )
  let key = 0
  const c: FormationCluster = {
    clock,
    net,
    nodes,
    written: 0,
    writeOn(node, count) {
      for (let i = 0; i < count; i++) {
        write(node, 'INSERT INTO kv (k, v) VALUES (?, ?)', [key++, `${node.name}-${key}`])
        c.written++
      }
    },
    formed() {
      const first = dump((nodes[0] as TestNode).engine)
      return nodes.every(
        (x) =>
          x.cluster.members().filter((m) => m.state === 'alive').length === n &&
          dump(x.engine) === first &&
          rowCount((nodes[0] as TestNode).engine) === c.written,
      )
    },
    async stop() {
      await Promise.all([...nodes.map((x) => x.cluster.stop()), clock.advance(5000)])
      for (const x of nodes) x.engine.close()
    },
  }
  return c
}

/** Start the nodes of `f` as planned, writing on each as it starts and once more at the end. */
export async function runFormation(f: Formation, boundMs: number): Promise<FormationResult> {
  const plan = planFormation(f)
  const c = formationCluster(f.n, f.seed, plan.lists)
  try {
    if (f.order === 'all-at-once') {
      await Promise.all(plan.starts.map(({ node }) => (c.nodes[node] as TestNode).cluster.start()))
      for (const { node } of plan.starts) c.writeOn(c.nodes[node] as TestNode, 2)
    } else {
      for (const { node, afterMs } of plan.starts) {
        await c.clock.advance(afterMs)
        await (c.nodes[node] as TestNode).cluster.start()
        c.writeOn(c.nodes[node] as TestNode, 2) // written before the node has joined anyone
      }
    }
    for (const x of c.nodes) c.writeOn(x, 1)
    const t0 = c.clock.now()
    const ok = await c.clock.runUntil(() => c.formed(), boundMs)
    const detail = ok
      ? ''
      : c.nodes
          .map(
            (x) =>
              `${x.name} (lists ${JSON.stringify(plan.lists[c.nodes.indexOf(x)])}): alive ${x.cluster
                .members()
                .filter((m) => m.state === 'alive')
                .map((m) => m.peer_id)
                .join(',')}; rows ${rowCount(x.engine)}/${c.written}`,
          )
          .join('\n')
    return { formedAfterMs: ok ? c.clock.now() - t0 : null, detail }
  } finally {
    await c.stop()
  }
}
