/**
 * Group commit over real sockets and gossip (docs/architecture.md, "walk of one write"):
 * concurrent `POST /v1/transactions` on one worker, some failing, each answered with its own
 * version; every other worker reads each write with read-your-writes (`wait_actor` /
 * `wait_version`), holds none of the failed ones, and got them by broadcast (sync is set to once
 * an hour), with no more changes messages published than groups committed.
 */
import type { Agent } from '@patina/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { queryRows, startCluster, waitFor, type TestCluster } from '../helpers/cluster.js'

const HOUR = 3_600_000

async function metric(
  a: Agent,
  name: string,
  labels: Record<string, string> = {},
  field = '',
): Promise<number> {
  const m = await a.registry.getSingleMetric(name)?.get()
  return (
    m?.values
      .filter((v) => (field === '' ? true : (v as { metricName?: string }).metricName === `${name}${field}`))
      .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
      .reduce((sum, v) => sum + v.value, 0) ?? 0
  )
}

async function post(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/v1/transactions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

describe('group commit in a cluster', () => {
  let c: TestCluster
  beforeAll(async () => {
    c = await startCluster(3, {
      overrides: [
        { key: 'gossip.sync_interval_min_ms', value: HOUR },
        { key: 'gossip.sync_interval_max_ms', value: HOUR },
      ],
    })
    for (const a of c.agents)
      await waitFor(
        '3 alive members',
        () => a.cluster.members().filter((m) => m.state === 'alive').length === 3,
      )
  })
  afterAll(async () => {
    await c?.stop()
  })

  it('concurrent writes with failures: own versions, read-your-writes elsewhere, failed rows nowhere', async () => {
    const [a, b, d] = c.agents as [Agent, Agent, Agent]
    const N = 40
    const failing = (i: number) => i % 7 === 3
    const published0 = await metric(a, 'patina_gossip_messages_published_total', { topic: 'changes' })
    // Open N keep-alive connections first, so the writes leave together and can share groups.
    await Promise.all(Array.from({ length: N }, () => queryRows(a.apiUrl, 'SELECT 1')))
    const res = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        post(
          a.apiUrl,
          failing(i)
            ? [
                ['INSERT INTO tests (id, text) VALUES (?, ?)', [i, 'doomed']],
                ['INSERT INTO tests (id, text) VALUES (?, NULL)', [1000 + i]],
              ]
            : [['INSERT INTO tests (id, text) VALUES (?, ?)', [i, `w${i}`]]],
        ),
      ),
    )
    const ok = res.flatMap((r, i) => (r.status === 200 ? [{ i, version: r.body['version'] as number }] : []))
    const bad = res.flatMap((r, i) => (r.status === 200 ? [] : [{ i, status: r.status }]))
    expect(bad.map((x) => x.i)).toEqual(Array.from({ length: N }, (_, i) => i).filter(failing))
    expect(bad.every((x) => x.status === 500)).toBe(true)
    expect(ok.map((x) => x.version).sort((x, y) => x - y)).toEqual(ok.map((_, j) => j + 1))
    for (const r of res) if (r.status === 200) expect(r.body['actor_id']).toBe(a.engine.actorId)
    // Read-your-writes on the other workers: each write, by its own version.
    for (const node of [b, d]) {
      await Promise.all(
        ok.map(async ({ i, version }) => {
          const rows = await queryRows(
            node.apiUrl,
            `SELECT text FROM tests WHERE id = ${i}`,
            `?wait_actor=${a.engine.actorId}&wait_version=${version}&wait_timeout_ms=15000`,
          )
          expect(rows).toEqual([[`w${i}`]])
        }),
      )
    }
    // Nothing of the failed ones anywhere.
    for (const node of [a, b, d]) {
      expect(
        await queryRows(node.apiUrl, "SELECT count(*) FROM tests WHERE text = 'doomed' OR id >= 1000"),
      ).toEqual([[0]])
      expect(await queryRows(node.apiUrl, 'SELECT count(*) FROM tests')).toEqual([[ok.length]])
    }
    // Every request went through a group; a group is one changes message at most.
    const groups = await metric(a, 'patina_api_transaction_group_size', {}, '_count')
    expect(await metric(a, 'patina_api_transaction_group_size', {}, '_sum')).toBe(N)
    const published =
      (await metric(a, 'patina_gossip_messages_published_total', { topic: 'changes' })) - published0
    expect(published).toBeGreaterThan(0)
    expect(published).toBeLessThanOrEqual(groups)
  })

  it('a lone write is answered and replicated as before', async () => {
    const [a, b] = c.agents as [Agent, Agent]
    const r = await post(a.apiUrl, ["INSERT INTO routes (host, app) VALUES ('lone', 'x')"])
    expect(r.status).toBe(200)
    await waitFor('the lone write on b', async () => {
      const rows = await queryRows(
        b.apiUrl,
        "SELECT app FROM routes WHERE host = 'lone'",
        `?wait_actor=${a.engine.actorId}&wait_version=${r.body['version'] as number}&wait_timeout_ms=15000`,
      )
      return rows.length === 1 && rows[0]?.[0] === 'x'
    })
  })
})
