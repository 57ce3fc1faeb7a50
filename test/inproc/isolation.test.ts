/**
 * Isolation as real agents report it in `GET /v1/health` (issue 14): a node configured alone —
 * no bootstrap entries, never having met another member — is a one-node cluster, not an
 * isolated one; a node whose bootstrap entries never answer is isolated once the isolation
 * window has passed. And `heads` through the agent's own engine.
 */
import { createServer, type Server } from 'node:net'
import { parseWorkerFreshness } from '@patina/client'
import { afterAll, describe, expect, it } from 'vitest'
import { exec, startCluster, waitFor, type TestCluster } from '../helpers/cluster.js'

const WINDOW_MS = 300

interface Health {
  status: number
  response: {
    isolated: boolean
    last_contact_ms: number | null
    reachable_members: number
    members: number
    heads: Record<string, { max: number; complete: number }>
  }
}

async function health(url: string, query = ''): Promise<Health> {
  const res = await fetch(`${url}/v1/health${query}`)
  const body = (await res.json()) as { response: Health['response'] }
  return { status: res.status, response: body.response }
}

describe('isolation in /v1/health', () => {
  const clusters: TestCluster[] = []
  let deaf: Server | undefined
  afterAll(async () => {
    await Promise.allSettled(clusters.map((c) => c.stop()))
    await new Promise((r) => deaf?.close(r))
  })

  it('alone by design: never isolated; bootstrap entries that never answer: isolated after the window', async () => {
    const window = { key: 'gossip.isolation_after_ms', value: WINDOW_MS }
    const alone = await startCluster(1, { overrides: [window] })
    clusters.push(alone)
    const a = alone.agents[0]!

    // A bootstrap entry that accepts TCP connections and closes them at once: never a member.
    deaf = createServer((s) => s.destroy())
    await new Promise<void>((r) => deaf!.listen(0, '127.0.0.1', r))
    const port = (deaf.address() as { port: number }).port
    const waiting = await startCluster(1, {
      overrides: [window, { key: 'gossip.bootstrap', value: [`127.0.0.1:${port}`] }],
    })
    clusters.push(waiting)
    const b = waiting.agents[0]!

    // It never meets anyone, and once its window has passed it says it is isolated (the status
    // rules stay Corrosion's: still 200).
    const isolated = await waitFor('the node with an unanswered bootstrap entry isolated', async () => {
      const h = await health(b.apiUrl)
      return h.response.isolated ? h : undefined
    })
    expect(isolated.status).toBe(200)
    expect(isolated.response).toMatchObject({ isolated: true, last_contact_ms: null, reachable_members: 0 })

    // The lone node started before it, so it has been alone at least as long: not isolated.
    const h = await health(a.apiUrl)
    expect(h.status).toBe(200)
    expect(h.response).toMatchObject({
      isolated: false,
      last_contact_ms: null,
      reachable_members: 0,
      members: 1,
    })
    // The edge client's reading: not cut off.
    expect(parseWorkerFreshness(h.response)).toMatchObject({ isolated: false, neverContacted: true })
    expect(b.cluster.isolation().isolated).toBe(true)
    expect(a.cluster.isolation().isolated).toBe(false)
  })

  it("heads: the agent's own versions, as the edge client parses them", async () => {
    const a = clusters[0]!.agents[0]!
    expect((await health(a.apiUrl)).response.heads).toEqual({})
    const w1 = await exec(a.apiUrl, ["INSERT INTO tests (id, text) VALUES (1, 'x')"])
    const w2 = await exec(a.apiUrl, ["INSERT INTO tests (id, text) VALUES (2, 'y')"])
    expect([w1.version, w2.version]).toEqual([1, 2])
    const { response } = await health(a.apiUrl)
    expect(response.heads).toEqual({ [w2.actor_id]: { max: 2, complete: 2 } })
    expect(parseWorkerFreshness(response).heads).toEqual(response.heads)
  })
})
