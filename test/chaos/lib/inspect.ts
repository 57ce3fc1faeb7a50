/**
 * What the campaign reads from its workers: their kv rows (for the model and history checks),
 * every table as exact cells (for convergence), the acknowledged versions they lack, and a
 * bounded wait on a condition; and the typed-table writes it sends them.
 */
import type { Row } from './history.js'
import type { ChaosWorker } from './procs.js'
import { CHAOS_QUERY, EXACT_QUERIES } from './workload.js'
import { sleep, waitFor } from '../../helpers/wait.js'

export { sleep }

/** `waitFor` that answers false instead of throwing when `timeoutMs` passes; tries once a second. */
export async function waitUntil(
  what: string,
  timeoutMs: number,
  fn: () => Promise<boolean>,
): Promise<boolean> {
  return waitFor(what, fn, { timeoutMs, intervalMs: 1000 }).then(
    () => true,
    () => false,
  )
}

/** The kv rows of `w`. */
export const dump = (w: ChaosWorker): Promise<Row[]> => dumpKv(w.apiUrl, w.name, 15_000)

/** The kv rows a worker at `apiUrl` holds (chaos workers, and the container chaos test's). */
export async function dumpKv(apiUrl: string | undefined, name: string, timeoutMs: number): Promise<Row[]> {
  const res = await fetch(`${apiUrl}/v1/queries`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(`${CHAOS_QUERY} ORDER BY k`),
    signal: AbortSignal.timeout(timeoutMs),
  })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`${name} query ${res.status}: ${text}`)
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
export async function missingVersions(
  w: ChaosWorker,
  acked: readonly (readonly [string, number])[],
): Promise<string[]> {
  const s = (await w.admin({ cmd: 'sync-status' })) as SyncStatus
  const missing: string[] = []
  for (const [actor, v] of acked) {
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

/**
 * Every table of a worker as exact cells (storage class and value, computed in SQL: see
 * `EXACT_QUERIES`), one string per row: what convergence compares, never the JSON of the rows.
 */
export async function exactDump(w: ChaosWorker): Promise<string> {
  const out: string[] = []
  for (const sql of EXACT_QUERIES) {
    const res = await fetch(`${w.apiUrl}/v1/queries`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sql),
      signal: AbortSignal.timeout(15_000),
    })
    const text = await res.text()
    if (res.status !== 200) throw new Error(`${w.name} query ${res.status}: ${text}`)
    for (const line of text.split('\n')) {
      if (!line) continue
      const ev = JSON.parse(line) as { row?: [number, [string]]; error?: string }
      if (ev.error !== undefined) throw new Error(ev.error)
      if (ev.row) out.push(ev.row[1][0])
    }
  }
  return out.join('\n')
}

/** Sends a typed-table write; its actor and version when acknowledged (else nothing to check). */
export async function postTyped(w: ChaosWorker, sql: readonly string[]): Promise<[string, number] | null> {
  try {
    const res = await fetch(`${w.apiUrl}/v1/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sql),
      signal: AbortSignal.timeout(5000),
    })
    const text = await res.text()
    if (res.status !== 200) return null
    const body = JSON.parse(text) as { version: number | null; actor_id: string }
    return body.version === null ? null : [body.actor_id, body.version]
  } catch {
    return null // a worker down or cut off
  }
}
