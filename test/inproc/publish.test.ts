/**
 * The write path's last step (docs/architecture.md, "walk of one write"): a transaction
 * acknowledged by `POST /v1/transactions` has been handed to the broadcaster (the engine's
 * commit listener → `cluster.publishLocal`, wired in agent.ts), and reaches the other members
 * by gossip, not only by the next anti-entropy round. Sync is set to once an hour here, so a
 * row that arrives within seconds came by broadcast.
 */
import type { Agent } from '@patina/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exec, queryRows, startCluster, waitFor, type TestCluster } from '../helpers/cluster.js'

const HOUR = 3_600_000

async function counter(a: Agent, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await a.registry.getSingleMetric(name)?.get()
  return (
    m?.values
      .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
      .reduce((sum, v) => sum + v.value, 0) ?? 0
  )
}

describe('a committed write is published to the cluster', () => {
  let c: TestCluster
  beforeAll(async () => {
    c = await startCluster(2, {
      overrides: [
        { key: 'gossip.sync_interval_min_ms', value: HOUR },
        { key: 'gossip.sync_interval_max_ms', value: HOUR },
      ],
    })
    for (const a of c.agents)
      await waitFor(
        '2 alive members',
        () => a.cluster.members().filter((m) => m.state === 'alive').length === 2,
      )
  })
  afterAll(async () => {
    await c?.stop()
  })

  it('is handed to the broadcaster before the response, and arrives by gossip', async () => {
    const [a, b] = c.agents as [Agent, Agent]
    const before = await counter(a, 'patina_broadcast_changesets_total')
    const pending = await counter(a, 'patina_gossip_messages_published_total')
    const syncedBefore = await counter(b, 'patina_changesets_received_total', { source: 'sync' })
    const w = await exec(a.apiUrl, ["INSERT INTO tests (id, text) VALUES (7, 'published')"])
    expect(w.version).toBe(1)
    // Queued before the answer: published at once (a lone write) or within the batch delay.
    await waitFor(
      'the broadcast',
      async () => (await counter(a, 'patina_broadcast_changesets_total')) > before,
    )
    expect(await counter(a, 'patina_gossip_messages_published_total')).toBeGreaterThan(pending)
    const rows = await waitFor('the row on the other member', async () => {
      const r = await queryRows(b.apiUrl, 'SELECT text FROM tests WHERE id = 7')
      return r.length > 0 ? r : undefined
    })
    expect(rows).toEqual([['published']])
    expect(await counter(b, 'patina_changesets_received_total', { source: 'gossip' })).toBeGreaterThan(0)
    expect(await counter(b, 'patina_changesets_received_total', { source: 'sync' })).toBe(syncedBefore)
  })

  it('publishes nothing for a read-only or failed transaction', async () => {
    const [a] = c.agents as [Agent, Agent]
    const before = await counter(a, 'patina_broadcast_changesets_total')
    await exec(a.apiUrl, [['UPDATE tests SET text = ? WHERE id = -1', ['nothing']]])
    await expect(exec(a.apiUrl, ["INSERT INTO nowhere VALUES ('x')"])).rejects.toThrow(/transaction failed/)
    // a later write is published: the counter moves by exactly that one
    await exec(a.apiUrl, ["INSERT INTO tests (id, text) VALUES (8, 'after')"])
    await waitFor(
      'the broadcast',
      async () => (await counter(a, 'patina_broadcast_changesets_total')) > before,
    )
    expect(await counter(a, 'patina_broadcast_changesets_total')).toBe(before + 1)
  })
})
