/**
 * Helpers for the edge tests against real worker processes (started with `makeWorkers` of
 * `process.ts`): a latency-adding TCP proxy (to make one worker "nearer" than the others on
 * loopback), a writer that makes numbered, distinct changes to `routes` and remembers every acknowledged one, and the
 * checker of a live subscription's event stream against those writes.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { JsonSqlValue } from '@patina/api'
import type { LiveChange } from '@patina/client'
import { queryRows } from './cluster.js'

/** The query every edge test subscribes to; `host` is the key, `weight` carries the write number. */
export const ROUTES_SQL = 'SELECT host, app, backend, weight FROM routes'
export const ROUTES_COLUMNS = ['host', 'app', 'backend', 'weight'] as const

/** A TCP proxy on 127.0.0.1 that forwards to `targetPort` and delays every chunk by `delayMs` each way. */
export interface DelayProxy {
  url: string
  port: number
  close(): Promise<void>
}

export async function startDelayProxy(targetPort: number, delayMs: number): Promise<DelayProxy> {
  const sockets = new Set<Socket>()
  // Node fires timers of the same duration in the order they were set, so chunks stay in order.
  const pipeDelayed = (from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk)
      }, delayMs)
    })
    from.on('end', () => setTimeout(() => to.end(), delayMs))
    from.on('close', () => setTimeout(() => to.destroy(), delayMs))
    from.on('error', () => {})
  }
  const server: Server = createServer((down) => {
    const up = connect(targetPort, '127.0.0.1')
    sockets.add(down)
    sockets.add(up)
    down.on('close', () => sockets.delete(down))
    up.on('close', () => sockets.delete(up))
    pipeDelayed(down, up)
    pipeDelayed(up, down)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const a = server.address()
  const port = typeof a === 'object' && a ? a.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/** POST /v1/transactions with a deadline; throws unless the worker answered 200. */
export async function execOn(url: string, statements: unknown[], timeoutMs = 20_000): Promise<void> {
  const res = await fetch(`${url}/v1/transactions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(statements),
    signal: AbortSignal.timeout(timeoutMs),
  })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`transaction on ${url} failed ${res.status}: ${text}`)
}

/** The `routes` rows on a worker, ordered by host, as `[host, app, backend, weight]`. */
export async function clusterRoutes(url: string): Promise<JsonSqlValue[][]> {
  return (await queryRows(url, `${ROUTES_SQL} ORDER BY host`)) as JsonSqlValue[][]
}

/** Rows of a view (cells arrays), ordered by host. */
export function sortedRows(rows: Iterable<JsonSqlValue[]>): JsonSqlValue[][] {
  return [...rows].map((r) => [...r]).sort((a, b) => String(a[0]).localeCompare(String(b[0])))
}

/** One acknowledged write of {@link RouteWriter}: write number `n` on key `host`. */
export interface AckedWrite {
  n: number
  host: string
  op: 'insert' | 'update' | 'delete'
  worker: string
}

/**
 * Writes numbered, distinct changes to `routes` on the given workers and records each
 * acknowledged one. Write number `n` sets `weight = n` and `backend = 'v<n>'`, so every row state
 * names the write that produced it.
 *
 * Each key belongs to one worker (its writes all go there, one at a time), so the writes to a key
 * are totally ordered and its final state is its last acknowledged write, whatever gossip does.
 * Keys are never re-inserted after a delete, so "absent after present" means exactly "deleted by
 * the key's delete write".
 */
export class RouteWriter {
  readonly acked: AckedWrite[] = []
  readonly errors: unknown[] = []
  /** host → its writes, in order */
  readonly byHost = new Map<string, AckedWrite[]>()
  private next = 1
  private keySeq = 0
  private running: Promise<void>[] = []
  private stopping = false
  /** deterministic choices (xorshift) */
  private rnd: number

  constructor(seed = 0x2545f491) {
    this.rnd = seed
  }

  private random(): number {
    let x = this.rnd
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.rnd = x >>> 0
    return this.rnd / 0x1_0000_0000
  }

  /** Hosts whose last write is not a delete (their expected final row). */
  expected(): JsonSqlValue[][] {
    const rows: JsonSqlValue[][] = []
    for (const [host, ws] of this.byHost) {
      const last = ws[ws.length - 1] as AckedWrite
      if (last.op !== 'delete') rows.push([host, appOf(host), `v${last.n}`, last.n])
    }
    return sortedRows(rows)
  }

  /** Starts one write loop per worker URL (the loops run until {@link stop}). */
  start(workers: Array<{ name: string; url: string }>): void {
    this.stopping = false
    this.running = workers.map((w) => this.loop(w))
  }

  async stop(): Promise<void> {
    this.stopping = true
    await Promise.all(this.running)
    this.running = []
  }

  private async loop(w: { name: string; url: string }): Promise<void> {
    const mine = [...this.byHost.entries()]
      .filter(([, ws]) => ws[0]?.worker === w.name && ws[ws.length - 1]?.op !== 'delete')
      .map(([h]) => h)
    while (!this.stopping) {
      const r = this.random()
      let op: AckedWrite['op']
      let host: string
      if (mine.length < 4 || r < 0.4) {
        op = 'insert'
        host = `h-${w.name}-${String(this.keySeq++).padStart(5, '0')}`
      } else {
        const i = Math.floor(this.random() * mine.length)
        host = mine[i] as string
        op = r < 0.8 ? 'update' : 'delete'
        if (op === 'delete') mine.splice(i, 1)
      }
      const n = this.next++
      const stmt =
        op === 'insert'
          ? [
              'INSERT INTO routes (host, app, backend, weight) VALUES (?, ?, ?, ?)',
              [host, appOf(host), `v${n}`, n],
            ]
          : op === 'update'
            ? ['UPDATE routes SET backend = ?, weight = ? WHERE host = ?', [`v${n}`, n, host]]
            : ['DELETE FROM routes WHERE host = ?', [host]]
      try {
        await execOn(w.url, [stmt])
      } catch (err) {
        // not acknowledged: the key's state is now unknown, so stop (the test asserts no errors)
        this.errors.push(err)
        return
      }
      if (op === 'insert') mine.push(host)
      const a: AckedWrite = { n, host, op, worker: w.name }
      this.acked.push(a)
      const l = this.byHost.get(host)
      if (l) l.push(a)
      else this.byHost.set(host, [a])
    }
  }
}

function appOf(host: string): string {
  return `app-${host.slice(-1)}`
}

/** What {@link checkEventStream} found, for the report. */
export interface StreamStats {
  events: number
  bySource: Record<LiveChange['source'], number>
  /** acknowledged writes whose row state the consumer never saw (coalesced by the worker into a later state) */
  coalesced: number
  /** reconcile events that moved a key back to an older state (the documented failover caveat) */
  backwards: number
  /** states delivered again after such a backwards move */
  redelivered: number
  /** events showing a row whose insert was not applied yet (an update's version applied first: `app` is null) */
  partialRows: number
}

/**
 * Checks a live subscription's change events against the writes made. The exact rules:
 *
 * 1. `seq` is 1, 2, 3, … with no gap and no repeat (nothing emitted was dropped or doubled).
 * 2. Every event is a valid step from the state the consumer was told about for its key: an
 *    insert only for an absent key; an update or delete only for a present key, with `previous`
 *    equal to the last cells the consumer saw for it; an update changes the cells. A duplicated
 *    insert, update or delete therefore fails here.
 * 3. Every row state seen comes from the writes: the cells are `[host, app, 'v<n>', n]` for an
 *    acknowledged insert or update `n` of that host, and a delete exists for that host when the
 *    consumer sees it disappear. `app` (written only by the insert) may be null when `n` is an
 *    update: a worker applies a complete version as soon as it has it, even when an earlier
 *    version of the same actor is still missing (Corrosion does the same; gaps are filled by
 *    sync), so it can briefly hold the columns of a later update on a row whose insert has not
 *    arrived yet. Counted in `partialRows`.
 * 4. Per key, the consumer's states follow the write order. A state's rank is
 *    `2 × (position of write n in the key's history) + (1 if app is set)` (a deleted key: the
 *    delete's position, app counted as set), and each `change` (and `snapshot`) event moves the
 *    key to a strictly higher rank. So no state is delivered twice and none out of order. The
 *    only exception is the documented one: a `reconcile` event (after a failover or a switch to a
 *    worker that is behind) may move a key back to an older state; later changes then re-deliver
 *    states up to where the key was. Intermediate states may be skipped (the worker coalesces
 *    changes applied in one batch); they are counted, not failed.
 * 5. No loss: the state the consumer ends with for every key is its last acknowledged write
 *    (present with that write's cells, or absent after its delete), and there is no other key.
 */
export function checkEventStream(
  label: string,
  events: readonly LiveChange[],
  writer: RouteWriter,
): StreamStats {
  const fail = (msg: string): never => {
    throw new Error(`${label}: ${msg}`)
  }
  const stats: StreamStats = {
    events: events.length,
    bySource: { snapshot: 0, change: 0, reconcile: 0 },
    coalesced: 0,
    backwards: 0,
    redelivered: 0,
    partialRows: 0,
  }
  // 1.
  events.forEach((e, i) => {
    if (e.seq !== i + 1) fail(`event #${i} has seq ${e.seq}, expected ${i + 1} (gap or repeat)`)
  })
  // position of each write in its key's history (0 = absent before the insert)
  const pos = new Map<number, number>()
  for (const ws of writer.byHost.values()) ws.forEach((w, i) => pos.set(w.n, i + 1))
  interface KeyState {
    cells: JsonSqlValue[] | null
    /** rank of the current state (rule 4; 0 = never inserted) */
    at: number
    /** highest rank delivered so far */
    high: number
    seen: Set<number>
  }
  const keys = new Map<string, KeyState>()
  for (const e of events) {
    stats.bySource[e.source]++
    const host = String(e.cells[0])
    const ws =
      writer.byHost.get(host) ??
      fail(`event ${e.seq} is about host ${host}, which no acknowledged write touched`)
    const k = keys.get(host) ?? { cells: null, at: 0, high: 0, seen: new Set<number>() }
    keys.set(host, k)
    const where = `event seq ${e.seq} (${e.type} ${host}, source ${e.source}, worker ${e.worker})`
    // 2.
    if (e.type === 'insert') {
      if (k.cells !== null) fail(`${where}: insert of a key already present as ${JSON.stringify(k.cells)}`)
    } else {
      if (k.cells === null) fail(`${where}: ${e.type} of a key the consumer holds as absent`)
      if (JSON.stringify(e.previous) !== JSON.stringify(k.cells))
        fail(
          `${where}: previous ${JSON.stringify(e.previous)} but the consumer held ${JSON.stringify(k.cells)}`,
        )
      if (e.type === 'update' && JSON.stringify(e.cells) === JSON.stringify(k.cells))
        fail(`${where}: update that changes nothing`)
    }
    // 3.
    let at: number
    if (e.type === 'delete') {
      const del = ws.find((w) => w.op === 'delete') ?? fail(`${where}: no delete of ${host} was acknowledged`)
      at = 2 * (pos.get(del.n) as number) + 1
    } else {
      const n = e.cells[3]
      const w = ws.find((x) => x.n === n && x.op !== 'delete')
      const app = e.cells[1]
      if (
        w === undefined ||
        JSON.stringify(e.cells) !== JSON.stringify([host, app, `v${w.n}`, w.n]) ||
        !(app === appOf(host) || (app === null && w.op === 'update'))
      )
        fail(
          `${where}: cells ${JSON.stringify(e.cells)} are not the state of any acknowledged write of ${host}`,
        )
      if (app === null) stats.partialRows++
      at = 2 * (pos.get((w as AckedWrite).n) as number) + (app === null ? 0 : 1)
    }
    // 4.
    if (at <= k.at) {
      if (e.source !== 'reconcile')
        fail(
          `${where}: moves ${host} from rank ${k.at} back to ${at} (writes ${ws.map((w) => `${w.op}:${w.n}`).join(' ')})`,
        )
      stats.backwards++
    } else if (at <= k.high) stats.redelivered++
    k.at = at
    k.high = Math.max(k.high, at)
    k.seen.add(at)
    k.cells = e.type === 'delete' ? null : [...e.cells]
  }
  // 5.
  for (const [host, ws] of writer.byHost) {
    const k = keys.get(host)
    const last = ws[ws.length - 1] as AckedWrite
    const final = k?.cells ?? null
    const want = last.op === 'delete' ? null : [host, appOf(host), `v${last.n}`, last.n]
    if (JSON.stringify(final) !== JSON.stringify(want))
      fail(
        `${host}: the consumer ends with ${JSON.stringify(final)}, its last acknowledged write (${last.op} ${last.n}) gives ${JSON.stringify(want)}`,
      )
    const seen = k?.seen ?? new Set<number>()
    // a key inserted and deleted between two worker batches may never appear at all
    stats.coalesced += ws.filter((w, i) => !seen.has(2 * (i + 1) + 1) && w.op !== 'delete').length
  }
  return stats
}
