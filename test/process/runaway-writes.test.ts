/**
 * Issue 12 item 8: a long local write must be stopped at its deadline, and must not make the
 * peers declare the node down. Two `patina agent` processes with the default failure detection
 * (probe every 1 s, probe timeout 500 ms, `api.limits.main_thread_max_ms` 400): the victim gets
 * runaway writes back to back (each stopped inside SQLite and rolled back, 408) for a bounded
 * number of rounds, while the test watches the peer's member view. The peer may never see the
 * victim `down`, and after the storm the victim still writes and replicates.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { killWorkers, makeWorkers, type WorkerProcess } from '../helpers/process.js'
import { waitFor } from '../helpers/wait.js'

const ROUNDS = 15
const RUNAWAY_WRITE =
  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) INSERT INTO tests (id, text) SELECT x, 'r' FROM c WHERE x < 0"

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
})

interface Member {
  actor_id: string
  state: string
  self?: boolean
}
const members = async (url: string): Promise<Member[]> =>
  ((await (await fetch(`${url}/v1/cluster/members`)).json()) as { members: Member[] }).members

async function post(url: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const r = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: r.status, text: await r.text() }
}

describe('a long local write', () => {
  it('is stopped at its deadline, back to back, and the peer never declares the node down', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patina-runaway-'))
    const [victim, peer] = (await makeWorkers(dir, 2, {
      // the defaults of failure detection (the helper shortens them)
      probeIntervalMs: 1000,
      probeTimeoutMs: 500,
    })) as [WorkerProcess, WorkerProcess]
    cleanups.push(() => killWorkers([victim, peer], dir))
    await Promise.all([victim.start(), peer.start()])
    const victimId = (await members(victim.apiUrl)).find((m) => m.self)?.actor_id as string
    await waitFor(
      'the peer to see the victim alive',
      async () => (await members(peer.apiUrl)).find((m) => m.actor_id === victimId)?.state === 'alive',
      60_000,
    )

    const seen = new Set<string>()
    let watching = true
    const watcher = (async () => {
      while (watching) {
        const m = await members(peer.apiUrl).catch(() => [] as Member[])
        const st = m.find((x) => x.actor_id === victimId)?.state
        if (st !== undefined) seen.add(st)
        await new Promise((r) => setTimeout(r, 25))
      }
    })()
    for (let i = 0; i < ROUNDS; i++) {
      const r = await post(victim.apiUrl, '/v1/transactions', [RUNAWAY_WRITE])
      expect(r.status, r.text).toBe(408)
      expect(r.text).toMatch(/api\.limits\.main_thread_max_ms/)
    }
    // ...and a while after, for a late verdict
    await new Promise((r) => setTimeout(r, 5_000))
    watching = false
    await watcher
    expect([...seen]).not.toContain('down')

    // the victim still writes, and the write replicates
    const ok = await post(victim.apiUrl, '/v1/transactions', [
      ['INSERT INTO tests (id, text) VALUES (?, ?)', [1, 'after']],
    ])
    expect(ok.status, ok.text).toBe(200)
    await waitFor(
      'the write to reach the peer',
      async () =>
        (await post(peer.apiUrl, '/v1/queries', 'SELECT text FROM tests WHERE id = 1')).text.includes(
          'after',
        ),
      60_000,
    )
  })
})
