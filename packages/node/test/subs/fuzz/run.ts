import {
  createStateEngine,
  openSubsStore,
  type FullChangeset,
  type StateEngine,
  type SubsStore,
} from '@patina/core'
import pino from 'pino'
import { createSubscriptionHub, type SubscriptionHub } from '../../../src/subs/hub.js'
import type { SubscriptionHubOptions } from '../../../src/subs/options.js'
import { MemorySink } from '../helpers.js'
import { genQuery, type GenQuery } from './query-gen.js'
import { createRng, type Rng } from './random.js'
import { genSchema, type GenSchema } from './schema-gen.js'
import { genTransaction } from './write-gen.js'

/**
 * One seed of the differential subscription fuzzer: a random schema of related tables on
 * several in-process engines that exchange changesets (out of order, duplicated, and by
 * anti-entropy), subscription hubs on two of them, random queries of every form the issue
 * lists, and random writes of every kind, a schema change and hub restarts along the way.
 * At every checkpoint, each accepted query's client view (snapshot plus events, applied by
 * row id) must equal re-running the query on that node, with contiguous change ids and rows
 * of the header's width; a stream that ends with an error must be justified, and a new
 * subscriber then gets an exact snapshot or a justified error.
 */
export interface FuzzSize {
  nodes: number
  queries: number
  steps: number
}

export interface FuzzStats {
  accepted: Record<string, number>
  refused: Record<string, number>
  /** Streams ended by the hub, by reason. */
  ended: Record<string, number>
  checks: number
  events: number
  /** Transactions committed, and refused by SQLite (constraint errors roll back). */
  writes: { ok: number; failed: number }
}

export interface FuzzResult {
  seed: number
  failures: string[]
  stats: FuzzStats
}

const HUB_OPTIONS: Partial<SubscriptionHubOptions> = { rerunMaxRows: 200, rerunMaxMs: 5_000 }

type Cells = unknown[]

/** A client of one subscription: its view, built from the events as Corrosion's client does. */
interface Client {
  q: GenQuery
  hub: number
  id: string
  sink: MemorySink
  /** Events of `sink` already applied. */
  seen: number
  view: Map<number, Cells>
  columns: string[]
  lastChangeId: number
  /** The last stream ended with a justified error; try again at the next checkpoint. */
  waiting: boolean
}

export async function runSeed(seed: number, size: FuzzSize): Promise<FuzzResult> {
  const rng = createRng(seed)
  const schema = genSchema(rng)
  const failures: string[] = []
  const stats: FuzzStats = {
    accepted: {},
    refused: {},
    ended: {},
    checks: 0,
    events: 0,
    writes: { ok: 0, failed: 0 },
  }
  const bump = (m: Record<string, number>, k: string): void => {
    m[k] = (m[k] ?? 0) + 1
  }
  const logger = pino({ level: 'silent' })
  const engines: StateEngine[] = Array.from({ length: size.nodes }, () =>
    createStateEngine({ path: ':memory:', schema: schema.sql() }),
  )
  const stores: SubsStore[] = [openSubsStore(':memory:'), openSubsStore(':memory:')]
  const hubs: SubscriptionHub[] = stores.map((store, i) =>
    createSubscriptionHub({ engine: engines[i] as StateEngine, store, logger }, HUB_OPTIONS),
  )
  const outbox: FullChangeset[][] = engines.map(() => [])
  const clients: Client[] = []
  const fail = (c: Client | null, what: string): void => {
    failures.push(
      `seed ${seed}${c ? ` [${c.q.form}] ${c.q.sql}${c.q.params ? ' ' + JSON.stringify(c.q.params) : ''}` : ''}: ${what}`,
    )
  }
  const rerun = (node: number, q: GenQuery): Cells[] | Error => {
    try {
      return [...(engines[node] as StateEngine).query(q.sql, q.params).rows]
    } catch (err) {
      return err as Error
    }
  }
  const canon = (rows: Iterable<Cells>): string =>
    JSON.stringify([...rows].map((r) => JSON.stringify(r)).sort())

  /** Applies the client's new events; false when its stream ended with an error. */
  function consume(c: Client): boolean {
    const events = c.sink.events()
    for (; c.seen < events.length; c.seen++) {
      const e = events[c.seen] as Record<string, unknown>
      stats.events++
      if ('columns' in e) {
        c.columns = e['columns'] as string[]
        c.view.clear()
      } else if ('row' in e) {
        const [rowid, cells] = e['row'] as [number, Cells]
        const prev = [...c.view.keys()].at(-1)
        if (prev !== undefined && rowid <= prev) fail(c, `snapshot row ${rowid} listed after row ${prev}`)
        if (cells.length !== c.columns.length)
          fail(c, `row of ${cells.length} cells under ${c.columns.length} columns`)
        c.view.set(rowid, cells)
      } else if ('eoq' in e) {
        c.lastChangeId = (e['eoq'] as { change_id: number }).change_id
      } else if ('change' in e) {
        const [type, rowid, cells, id] = e['change'] as [string, number, Cells, number]
        if (id !== c.lastChangeId + 1) fail(c, `change id ${id} after ${c.lastChangeId}`)
        c.lastChangeId = id
        if (cells.length !== c.columns.length)
          fail(c, `change of ${cells.length} cells under ${c.columns.length} columns`)
        if (type === 'delete') {
          if (!c.view.delete(rowid)) fail(c, `delete of unknown row ${rowid}`)
        } else {
          if (type === 'insert' && c.view.has(rowid)) fail(c, `insert of existing row ${rowid}`)
          if (type === 'update' && !c.view.has(rowid)) fail(c, `update of unknown row ${rowid}`)
          c.view.set(rowid, cells)
        }
      } else if ('error' in e) {
        const msg = String(e['error'])
        bump(
          stats.ended,
          msg.includes('columns changed')
            ? 'columns changed'
            : msg.includes('rerun_max_rows')
              ? 'rerun rows'
              : msg.includes('no longer maintained') || msg.includes('cannot be maintained')
                ? 'maintenance error'
                : msg,
        )
        c.seen = events.length
        return false
      }
    }
    return true
  }

  /** Attaches a client anew (fresh snapshot, or `from` its last change id). */
  async function attach(c: Client, from?: number): Promise<void> {
    c.sink = new MemorySink()
    c.seen = 0
    if (from === undefined) c.view = new Map()
    await (hubs[c.hub] as SubscriptionHub).attach(c.id, c.sink, from === undefined ? {} : { from })
  }

  /** A new subscriber of a failed subscription: an exact snapshot, or an error with a cause. */
  async function reattach(c: Client): Promise<void> {
    const hub = hubs[c.hub] as SubscriptionHub
    let refusal: string | null = null
    try {
      if (hub.get(c.id) === undefined) {
        c.id = hub.upsert({ sql: c.q.sql, ...(c.q.params ? { params: c.q.params } : {}) }).info.id
      }
      await attach(c)
      if (consume(c)) {
        c.waiting = false
        return
      }
      refusal = JSON.stringify(c.sink.events().at(-1))
    } catch (err) {
      // The query itself is refused now (a schema change made it ambiguous, say).
      refusal = (err as Error).message
    }
    const r = rerun(c.hub, c.q)
    const justified = r instanceof Error || r.length > (HUB_OPTIONS.rerunMaxRows as number)
    if (!justified) fail(c, `a new subscriber got ${refusal} but the query runs fine`)
    c.waiting = true
  }

  async function check(): Promise<void> {
    for (const h of hubs) h.flush()
    for (const c of clients) {
      if (c.waiting || !consume(c)) {
        await reattach(c)
        if (c.waiting) continue
      }
      stats.checks++
      const r = rerun(c.hub, c.q)
      if (r instanceof Error) {
        fail(c, `the stream is open but the query fails: ${r.message}`)
        continue
      }
      if (canon(c.view.values()) !== canon(r)) {
        fail(c, `view ${canon(c.view.values())} != query ${canon(r)}`)
        c.waiting = true // report once, then start over
      }
    }
  }

  function deliver(from: number, batch: FullChangeset[]): void {
    for (let to = 0; to < engines.length; to++) {
      if (to === from) continue
      if (rng.chance(0.5)) (engines[to] as StateEngine).apply(batch)
    }
    ;(outbox[from] as FullChangeset[]).push(...batch)
  }

  function gossipSome(): void {
    const from = rng.int(0, engines.length - 1)
    const to = rng.int(0, engines.length - 1)
    const box = outbox[from] as FullChangeset[]
    if (from === to || box.length === 0) return
    const picks = Array.from({ length: rng.int(1, 3) }, () => rng.pick(box))
    ;(engines[to] as StateEngine).apply(picks)
  }

  function sync(a: number, b: number): void {
    const x = engines[a] as StateEngine
    const y = engines[b] as StateEngine
    y.apply([...x.changesFor(y.syncState())])
  }

  try {
    for (let k = 0; k < size.queries; k++) {
      const q = genQuery(rng, schema)
      const hub = k % hubs.length
      try {
        const { info } = (hubs[hub] as SubscriptionHub).upsert({
          sql: q.sql,
          ...(q.params ? { params: q.params } : {}),
        })
        if (q.nondeterministic) fail(null, `accepted a query that depends on time or chance: ${q.sql}`)
        bump(
          stats.accepted,
          `${info.maintenance}${info.rerunReason ? ` (${reasonKey(info.rerunReason)})` : ''}`,
        )
        const c: Client = {
          q,
          hub,
          id: info.id,
          sink: new MemorySink(),
          seen: 0,
          view: new Map(),
          columns: [],
          lastChangeId: 0,
          waiting: false,
        }
        await attach(c)
        clients.push(c)
      } catch (err) {
        const msg = (err as Error).message
        bump(stats.refused, reasonKey(msg))
        if (!q.nondeterministic && !/rerun_max_rows|malformed JSON/.test(msg))
          fail(null, `refused ${q.sql}: ${msg}`)
      }
    }
    await check()
    const schemaChangeAt = rng.chance(0.5) ? rng.int(1, size.steps - 1) : -1
    for (let step = 0; step < size.steps; step++) {
      const node = rng.int(0, engines.length - 1)
      try {
        const res = (engines[node] as StateEngine).transaction(genTransaction(rng, schema))
        deliver(node, res.changesets)
        stats.writes.ok++
      } catch {
        // A constraint failure rolls the transaction back; nothing to replicate.
        stats.writes.failed++
      }
      if (rng.chance(0.2)) gossipSome()
      if (rng.chance(0.1)) sync(rng.int(0, engines.length - 1), rng.int(0, engines.length - 1))
      if (step === schemaChangeAt) addColumn(rng, schema, engines)
      if (rng.chance(0.03)) await restartHub(rng.int(0, hubs.length - 1))
      if (rng.chance(0.25)) await check()
    }
    for (let round = 0; round < 2; round++) {
      for (let a = 0; a < engines.length; a++)
        for (let b = 0; b < engines.length; b++) if (a !== b) sync(a, b)
    }
    await check()
    await finalChecks()
  } finally {
    for (const h of hubs) h.close()
    for (const s of stores) s.close()
    for (const e of engines) e.close()
  }
  return { seed, failures, stats }

  async function restartHub(i: number): Promise<void> {
    ;(hubs[i] as SubscriptionHub).close()
    hubs[i] = createSubscriptionHub(
      { engine: engines[i] as StateEngine, store: stores[i] as SubsStore, logger },
      HUB_OPTIONS,
    )
    for (const c of clients) {
      if (c.hub !== i || c.waiting) continue
      consume(c)
      if ((hubs[i] as SubscriptionHub).get(c.id) === undefined) {
        c.waiting = true
        continue
      }
      await attach(c, c.lastChangeId === 0 ? undefined : c.lastChangeId)
    }
  }

  /** Resume from an earlier change id, resume ahead of the log, and a fresh snapshot in row-id order. */
  async function finalChecks(): Promise<void> {
    for (const c of clients) {
      if (c.waiting) continue
      const hub = hubs[c.hub] as SubscriptionHub
      const snap = new MemorySink()
      await hub.attach(c.id, snap)
      const rows = snap
        .events()
        .filter((e) => 'row' in e)
        .map((e) => e['row'] as [number, Cells])
      const same =
        rows.length === c.view.size &&
        rows.every(([id, cells]) => JSON.stringify(c.view.get(id)) === JSON.stringify(cells))
      if (!same) fail(c, `a new snapshot ${JSON.stringify(rows)} differs from the view built from events`)
      if (rows.some(([id], k) => k > 0 && id <= (rows[k - 1] as [number, Cells])[0]))
        fail(c, 'a new snapshot is not in row-id order')
      const ahead = new MemorySink()
      await hub.attach(c.id, ahead, { from: c.lastChangeId + 5 })
      if (ahead.closed || ahead.events().length > 0)
        fail(c, `resuming ahead of the log gave ${JSON.stringify(ahead.events())}`)
      ahead.end()
      snap.end()
    }
  }
}

/** Adds a defaulted column to one table on every node (a schema reload). */
function addColumn(rng: Rng, schema: GenSchema, engines: StateEngine[]): void {
  const t = rng.pick(schema.tables)
  t.added.push(`e${t.added.length}`)
  for (const e of engines) e.applySchema(schema.sql())
}

/** A short, stable category for a refusal or re-run reason. */
export function reasonKey(msg: string): string {
  const m =
    /(aggregate function|GROUP BY|HAVING|DISTINCT|compound SELECT|common table expression|LIMIT|subquery in FROM|subquery|window function|table-valued function|WHERE condition on left-joined|inner join|RIGHT JOIN|not deterministic|current time|rerun_max_rows|malformed JSON|not a replicated table|could not rewrite)/.exec(
      msg,
    )
  return m ? (m[1] as string) : msg.slice(0, 60)
}
