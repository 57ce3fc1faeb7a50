/**
 * What the live-subscription tests of the client (`live*.test.ts`) and of the edge share: the
 * `routes` query the fake workers serve, its rows, watch options with a short backoff, and
 * readers of a subscription's events and view.
 */
import type { JsonSqlValue } from '@patina/api'
import type { LiveChange, LiveEvent, LiveSubscription, WatchOptions } from '../src/types.js'

/** The query every live test subscribes to (`FakeCluster` serves `routes`). */
export const LIVE_SQL = 'SELECT id, host, backend FROM routes'
/** A `routes` row: `[id, "<id>.example", backend]`. */
export const row = (id: string, v: string): JsonSqlValue[] => [id, `${id}.example`, v]
/** Keyed by `id`, with a backoff short enough for tests. */
export const WATCH: WatchOptions = { keyColumns: ['id'], backoff: { baseMs: 20, maxMs: 200 } }

/** Collects every event of a live subscription in the background. */
export function collect(live: LiveSubscription): LiveEvent[] {
  const out: LiveEvent[] = []
  void (async () => {
    try {
      for await (const ev of live) out.push(ev)
    } catch {
      // failure is asserted through `ready`/status in the tests
    }
  })()
  return out
}

/** Collects the `change` events of a live subscription. */
export function changesOf(live: LiveSubscription): LiveChange[] {
  const out: LiveChange[] = []
  live.on('change', (c) => out.push(c))
  return out
}

/** Row changes as compact tuples: [type, id, backend, source]. */
export const compact = (cs: LiveChange[]) => cs.map((c) => [c.type, c.cells[0], c.cells[2], c.source])

/** The subscription's view as `{ id: backend }`. */
export const viewOf = (live: LiveSubscription): Record<string, JsonSqlValue> =>
  Object.fromEntries([...live.rows.values()].map((c) => [String(c[0]), c[2] ?? null]))
