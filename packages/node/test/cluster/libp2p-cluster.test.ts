/**
 * The cluster over real libp2p on 127.0.0.1: convergence of writes made on every node,
 * a partitioned node catching up after healing, and a late node catching up on 50,000
 * changes through sync alone.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLibp2pTransport } from '../../src/transport/libp2p.js'
import { converged, dump, makeNode, metricValue, waitFor, write, type TestNode } from '../helpers.js'

const nodes: TestNode[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.cluster.stop().catch(() => undefined)))
  for (const n of nodes.splice(0)) n.engine.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function hostPort(node: TestNode): string {
  const ma = node.transport.addresses().find((a) => a.startsWith('/ip4/127.0.0.1/tcp/')) ?? ''
  return `127.0.0.1:${/\/tcp\/(\d+)/.exec(ma)?.[1] ?? ''}`
}

async function startNode(name: string, bootstrap: string[], extra: { dir?: string } = {}): Promise<TestNode> {
  const transport = createLibp2pTransport({
    listen: ['127.0.0.1:0'],
    ...(extra.dir !== undefined ? { identityPath: join(extra.dir, `${name}.key`) } : {}),
  })
  const node = makeNode(name, transport, {
    bootstrap,
    ...(extra.dir !== undefined ? { membersPath: join(extra.dir, `${name}.members.json`) } : {}),
  })
  nodes.push(node)
  await node.cluster.start()
  return node
}

function blockBetween(a: TestNode, others: TestNode[], on: boolean): void {
  for (const o of others) {
    if (on) {
      a.transport.block(o.transport.peerId)
      o.transport.block(a.transport.peerId)
    } else {
      a.transport.unblock(o.transport.peerId)
      o.transport.unblock(a.transport.peerId)
    }
  }
}

const count = (n: TestNode): number =>
  Number([...n.engine.query('SELECT count(*) FROM kv').rows][0]?.[0] ?? 0)

describe('cluster over libp2p on 127.0.0.1', () => {
  it('five nodes converge on writes made on every node; a partitioned node catches up after healing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patina-cluster-'))
    dirs.push(dir)
    const first = await startNode('n0', [], { dir })
    const seed = hostPort(first)
    const rest = []
    for (let i = 1; i < 5; i++) rest.push(await startNode(`n${i}`, [seed], { dir }))
    const all = [first, ...rest]
    await waitFor('membership', () =>
      all.every((n) => n.cluster.members().filter((m) => m.state === 'alive').length === 5),
    )

    for (let round = 0; round < 10; round++) {
      for (const [i, n] of all.entries())
        write(n, 'INSERT INTO kv (k, v) VALUES (?, ?)', [i * 1000 + round, `${n.name}:${round}`])
    }
    write(first, 'UPDATE kv SET n = n + 1 WHERE k < 5')
    await waitFor('convergence of 50 writes', () => count(first) === 50 && converged(all))

    // partition n4 away: connections blocked in the transport, both ways
    const lonely = all[4] as TestNode
    const majority = all.slice(0, 4)
    blockBetween(lonely, majority, true)
    await waitFor('partition', () =>
      majority.every((n) => n.transport.connectedPeers().every((p) => p !== lonely.transport.peerId)),
    )
    for (let i = 0; i < 20; i++)
      write(majority[i % 4] as TestNode, 'INSERT INTO kv (k, v) VALUES (?, ?)', [10_000 + i, 'majority'])
    for (let i = 0; i < 5; i++) write(lonely, 'INSERT INTO kv (k, v) VALUES (?, ?)', [20_000 + i, 'lonely'])
    await waitFor('majority converged', () => majority.every((n) => count(n) === 70) && converged(majority))
    expect(count(lonely)).toBe(55)

    blockBetween(lonely, majority, false)
    await waitFor(
      'convergence after healing',
      () => all.every((n) => count(n) === 75) && converged(all),
      60_000,
    )
    expect(dump(lonely.engine)).toBe(dump(first.engine))
    // identity and known members were persisted next to the data
    expect(existsSync(join(dir, 'n1.key'))).toBe(true)
    await waitFor('members file', () => existsSync(join(dir, 'n1.members.json')))
  }, 120_000)

  it('a node started late catches up on 50,000 changes through sync alone', async () => {
    const a = await startNode('a', [])
    const rows = 50_000
    const perTx = 1000
    for (let t = 0; t < rows / perTx; t++) {
      const values = Array.from({ length: perTx }, (_, i) => `(${t * perTx + i}, 'v${t * perTx + i}')`).join(
        ',',
      )
      // not broadcast: nobody is listening yet, and the late node must get it through sync
      a.engine.transaction([{ sql: `INSERT INTO kv (k, v) VALUES ${values}` }])
    }
    expect(count(a)).toBe(rows)
    const late = await startNode('late', [hostPort(a)])
    await waitFor('late node catch-up', () => count(late) === rows, 100_000)
    await waitFor('identical state', () => converged([a, late]))
    expect(await metricValue(late.registry, 'patina_changesets_received_total', { source: 'gossip' })).toBe(0)
    expect(
      await metricValue(late.registry, 'patina_changesets_received_total', { source: 'sync' }),
    ).toBeGreaterThan(0)
    expect(await metricValue(late.registry, 'patina_apply_batches_total')).toBeGreaterThan(0)
    // batching: far fewer engine.apply calls than changesets
    const batches = await metricValue(late.registry, 'patina_apply_batches_total')
    const applied = await metricValue(late.registry, 'patina_apply_changesets_total')
    expect(applied / batches).toBeGreaterThan(1)
  }, 120_000)
})
