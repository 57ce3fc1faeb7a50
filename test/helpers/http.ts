/**
 * HTTP helpers for a worker's API (transactions, queries), free of vitest hooks so that the
 * benches (bench/lib/procs.ts) can use them as well as the tests.
 */
export async function exec(
  url: string,
  statements: unknown[],
): Promise<{ version: number | null; actor_id: string }> {
  const res = await fetch(`${url}/v1/transactions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(statements),
  })
  const body = (await res.json()) as { version: number | null; actor_id: string; results: unknown[] }
  if (res.status !== 200) throw new Error(`transaction failed ${res.status}: ${JSON.stringify(body)}`)
  return body
}

export async function queryRows(url: string, sql: string, extra = ''): Promise<unknown[][]> {
  const res = await fetch(`${url}/v1/queries${extra}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(sql),
  })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`query failed ${res.status}: ${text}`)
  const rows: unknown[][] = []
  for (const line of text.split('\n')) {
    if (!line) continue
    const ev = JSON.parse(line) as { row?: [number, unknown[]]; error?: string }
    if (ev.error) throw new Error(ev.error)
    if (ev.row) rows.push(ev.row[1])
  }
  return rows
}
