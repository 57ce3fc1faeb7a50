/**
 * Bootstrap over real libp2p on loopback: a node that starts before its bootstrap peer, named
 * `localhost:<port>` (resolved by the system resolver on every attempt), joins it once it comes
 * up, although it already has another member; an entry that is the node itself is recognised.
 */
import { createServer } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createLibp2pTransport } from '../../src/transport/libp2p.js'
import { converged, makeNode, waitFor, write, type TestNode } from '../helpers.js'

const nodes: TestNode[] = []
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.cluster.stop().catch(() => undefined)))
  for (const n of nodes.splice(0)) n.engine.close()
})

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0))
    })
  })
}

function node(name: string, port: number, bootstrap: string[]): TestNode {
  const n = makeNode(name, createLibp2pTransport({ listen: [`127.0.0.1:${port}`] }), { bootstrap })
  nodes.push(n)
  return n
}

const alive = (n: TestNode): number => n.cluster.members().filter((m) => m.state === 'alive').length

describe('bootstrap over libp2p', () => {
  it('the issue-14 start order: b lists a (by name) and starts first, c joins b, then a comes up: one cluster', async () => {
    const [pa, pb, pc] = [await freePort(), await freePort(), await freePort()]
    const a = node('a', pa, [])
    const b = node('b', pb, [`localhost:${pa}`])
    const c = node('c', pc, [`127.0.0.1:${pb}`, `127.0.0.1:${pc}`]) // c also lists itself
    await b.cluster.start()
    write(b, 'INSERT INTO kv (k, v) VALUES (1, ?)', ['b'])
    await c.cluster.start()
    await waitFor('b and c join each other', () => alive(b) === 2 && alive(c) === 2)
    // b has a member now; it must keep trying a all the same
    await new Promise((r) => setTimeout(r, 500))
    await a.cluster.start()
    write(a, 'INSERT INTO kv (k, v) VALUES (2, ?)', ['a'])
    await waitFor('one cluster', () => [a, b, c].every((n) => alive(n) === 3) && converged([a, b, c]), 30_000)
    // c recognised its own entry
    const metrics = await c.registry.getSingleMetricAsString('patina_bootstrap_contacts_total')
    expect(metrics).toContain('result="self"')
  })
})
