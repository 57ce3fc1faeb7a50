/**
 * What the campaign reads from its workers: their rows, the acknowledged versions they lack,
 * and a bounded wait on a condition.
 */
import type { Row, WriteRecord } from './history.js'
import type { ChaosWorker } from './procs.js'
import { CHAOS_QUERY } from './workload.js'

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function waitUntil(
  what: string,
  timeoutMs: number,
  fn: () => Promise<boolean>,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await fn()) return true
    } catch {
      // not yet
    }
    if (Date.now() > deadline) return false
    await sleep(1000)
  }
}

export async function dump(w: ChaosWorker): Promise<Row[]> {
  const res = await fetch(`${w.apiUrl}/v1/queries`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(`${CHAOS_QUERY} ORDER BY k`),
    signal: AbortSignal.timeout(15_000),
  })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`${w.name} query ${res.status}: ${text}`)
  const rows: Row[] = []
  for (const line of text.split('\n')) {
    if (!line) continue
    const ev = JSON.parse(line) as {
      row?: [number, [number, string | null, string | null, number]]
      error?: string
    }
    if (ev.error !== undefined) throw new Error(ev.error)
    if (ev.row) rows.push({ k: ev.row[1][0], a: ev.row[1][1], b: ev.row[1][2], n: ev.row[1][3] })
  }
  return rows
}

interface SyncStatus {
  actorId: string
  heads: Record<string, number>
  need: Record<string, [number, number][]>
  partialNeed: Record<string, Record<string, unknown>>
  stats: { version: number }
}

/** Acknowledged versions (actor/version) this worker does not hold. */
export async function missingVersions(w: ChaosWorker, acked: readonly WriteRecord[]): Promise<string[]> {
  const s = (await w.admin({ cmd: 'sync-status' })) as SyncStatus
  const missing: string[] = []
  for (const r of acked) {
    if (r.outcome.status !== 'ok' || r.outcome.version === null) continue
    const { actor, version: v } = r.outcome
    const have =
      actor === s.actorId
        ? v <= s.stats.version
        : v <= (s.heads[actor] ?? 0) &&
          !(s.need[actor] ?? []).some(([a, b]) => v >= a && v <= b) &&
          s.partialNeed[actor]?.[String(v)] === undefined
    if (!have) missing.push(`${actor.slice(0, 8)}/${v}`)
  }
  return missing
}

export const canon = (rows: readonly Row[]): string => JSON.stringify(rows)
