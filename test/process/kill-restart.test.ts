/**
 * A worker killed with SIGKILL (a real child process) and restarted from its database
 * converges with the others and keeps every write it had acknowledged.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { queryRows, waitFor } from '../helpers/cluster.js'
import { killWorkers, makeWorkers, type WorkerProcess } from '../helpers/process.js'

describe('SIGKILL and restart (multi-process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patina-kill-'))
  let workers: WorkerProcess[] = []

  beforeAll(async () => {
    workers = await makeWorkers(dir, 3)
    await Promise.all(workers.map((w) => w.start()))
  }, 180_000)

  afterAll(() => killWorkers(workers, dir))

  it('keeps every acknowledged write and converges after restart', async () => {
    const [a, b, victim] = workers as [WorkerProcess, WorkerProcess, WorkerProcess]
    const acked = new Map<number, string>()
    const write = async (w: WorkerProcess, id: number) => {
      const text = `${w.spec.name}-${id}`
      try {
        const res = await fetch(`${w.apiUrl}/v1/transactions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify([
            [
              'INSERT INTO tests (id, text) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET text = excluded.text',
              [id, text],
            ],
          ]),
        })
        if (res.status === 200) acked.set(id, text)
      } catch {
        // refused: the victim is dead; not acknowledged
      }
    }
    // Writes on the victim, then SIGKILL while a burst of writes is in flight.
    for (let id = 0; id < 100; id++) await write(victim, id)
    const inflight = Array.from({ length: 50 }, (_, k) => write(victim, 100 + k))
    await victim.signal('SIGKILL')
    await Promise.all(inflight)
    // The cluster keeps taking writes while it is down.
    for (let id = 200; id < 300; id++) await write(id % 2 ? a : b, id)
    expect(acked.size).toBeGreaterThanOrEqual(200)

    await victim.start()
    const expected = [...acked.entries()].sort((x, y) => x[0] - y[0]).map(([id, text]) => [id, text])
    for (const w of workers) {
      await waitFor(
        `${w.spec.name} has every acknowledged write`,
        async () => {
          const rows = await queryRows(w.apiUrl, 'SELECT id, text FROM tests ORDER BY id')
          const have = new Map(rows.map((r) => [r[0] as number, r[1] as string]))
          return expected.every(([id, text]) => have.get(id as number) === text)
        },
        60_000,
      )
    }
    // And all three hold byte-identical contents.
    const dumps = await Promise.all(
      workers.map((w) => queryRows(w.apiUrl, 'SELECT id, text FROM tests ORDER BY id')),
    )
    expect(dumps[1]).toEqual(dumps[0])
    expect(dumps[2]).toEqual(dumps[0])
  })
})
