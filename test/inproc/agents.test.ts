import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exec, queryRows, startCluster, waitFor, type TestCluster } from '../helpers/cluster.js'

describe('worker agents on loopback (libp2p + HTTP API)', () => {
  let c: TestCluster
  beforeAll(async () => {
    c = await startCluster(3)
  })
  afterAll(async () => {
    await c?.stop()
  })

  it('forms a cluster where every member sees the others alive', async () => {
    for (const a of c.agents) {
      await waitFor(
        '3 alive members',
        () => a.cluster.members().filter((m) => m.state === 'alive').length === 3,
      )
    }
    const res = await fetch(`${c.agents[0]!.apiUrl}/v1/cluster/members`)
    const body = (await res.json()) as { members: { api_addr: string | null; self: boolean }[] }
    expect(body.members).toHaveLength(3)
    expect(body.members.find((m) => m.self)?.api_addr).toBe(c.agents[0]!.apiUrl)
  })

  it('replicates writes made on every node to every node', async () => {
    for (const [i, a] of c.agents.entries()) {
      await exec(a.apiUrl, [['INSERT INTO tests (id, text) VALUES (?, ?)', [i, `from-${i}`]]])
    }
    for (const a of c.agents) {
      await waitFor(
        '3 rows',
        async () => (await queryRows(a.apiUrl, 'SELECT id, text FROM tests ORDER BY id')).length === 3,
      )
      expect(await queryRows(a.apiUrl, 'SELECT id, text FROM tests ORDER BY id')).toEqual([
        [0, 'from-0'],
        [1, 'from-1'],
        [2, 'from-2'],
      ])
    }
    // Converged, every node reports the same heads in /v1/health: each writer's actor, every
    // version of it applied (complete = max).
    const heads = await Promise.all(
      c.agents.map(async (a) => {
        const res = await fetch(`${a.apiUrl}/v1/health`)
        return ((await res.json()) as { response: { heads: Record<string, unknown> } }).response.heads
      }),
    )
    const want = Object.fromEntries(c.agents.map((a) => [a.engine.actorId, { max: 1, complete: 1 }]))
    for (const h of heads) expect(h).toEqual(want)
  })

  it('reads its own writes on another node with wait_actor / wait_version', async () => {
    const w = await exec(c.agents[0]!.apiUrl, ["UPDATE tests SET text = 'ryw' WHERE id = 0"])
    const rows = await queryRows(
      c.agents[2]!.apiUrl,
      'SELECT text FROM tests WHERE id = 0',
      `?wait_actor=${w.actor_id}&wait_version=${w.version}&wait_timeout_ms=10000`,
    )
    expect(rows).toEqual([['ryw']])
  })

  it('catches up a late joiner through sync', async () => {
    const late = await c.add('late')
    await waitFor(
      'late joiner converged',
      async () => (await queryRows(late.apiUrl, 'SELECT count(*) FROM tests'))[0]?.[0] === 3,
    )
  })
})
