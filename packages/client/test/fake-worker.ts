/**
 * A fake Corrosion-like worker for client tests: node:http on 127.0.0.1:0 speaking the
 * subscription/query NDJSON protocol, with fault injection (dropped connections, stalls,
 * malformed or oversized lines, change-id gaps, restarts on the same port). Several fake
 * workers share one FakeCluster (the "truth"); each keeps its own copy of the data, its own
 * subscriptions, rowids (offset by `rowidBase`, so rowids differ between workers) and change ids.
 */
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { JsonSqlValue } from '@patina/api'

export const COLUMNS = ['id', 'host', 'backend']
/** The actor every write of a {@link FakeCluster} belongs to (in `heads`). */
export const FAKE_ACTOR = 'actor-fake'
type Cells = JsonSqlValue[]

interface FakeSub {
  id: string
  sql: string
  rowidByPk: Map<string, number>
  cells: Map<string, Cells>
  nextRowid: number
  log: Array<[string, number, Cells, number]>
  lastChangeId: number
  streams: Set<http.ServerResponse>
}

export interface RequestRecord {
  method: string
  path: string
  query: Record<string, string>
  body: unknown
  headers: http.IncomingHttpHeaders
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => void

export class FakeCluster {
  readonly truth = new Map<string, Cells>()
  readonly workers: FakeWorker[] = []
  version = 0

  async addWorker(name: string, rowidBase = 0): Promise<FakeWorker> {
    const w = new FakeWorker(this, name, rowidBase)
    await w.start()
    this.workers.push(w)
    return w
  }

  /**
   * Writes a row (null = delete) to the truth and to the given workers (default: all). Each
   * write is version `this.version` of one actor (`FAKE_ACTOR`), which each worker books in its
   * `heads` (the freshness contract of `/v1/health`).
   */
  write(pk: string, cells: Cells | null, on: FakeWorker[] = this.workers): void {
    if (cells === null) this.truth.delete(pk)
    else this.truth.set(pk, cells)
    this.version++
    for (const w of on) {
      w.book(this.version)
      w.apply(pk, cells)
    }
  }

  /** Brings a worker's data up to the truth (as anti-entropy sync would). */
  catchUp(w: FakeWorker): void {
    for (let v = 1; v <= this.version; v++) w.book(v)
    for (const pk of [...w.data.keys()]) if (!this.truth.has(pk)) w.apply(pk, null)
    for (const [pk, cells] of this.truth) w.apply(pk, cells)
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()))
  }
}

export class FakeWorker {
  readonly data = new Map<string, Cells>()
  readonly subs = new Map<string, FakeSub>()
  readonly requests: RequestRecord[] = []
  readonly overrides = new Map<string, Handler>()
  url = ''
  port = 0
  up = false
  /** Requests hang and streams receive nothing. */
  stalled = false
  /** Extra delay before answering /v1/health, in ms. */
  healthDelayMs = 0
  healthStatus = 200
  /** Required bearer token, if any. */
  token: string | null = null
  /** Skip this many change ids before the next change (a server bug the client must catch). */
  gapNext = 0
  /**
   * Freshness fields of /v1/health. `cutOffAt`: wall-clock ms when the worker lost contact with
   * the rest of the cluster (null: in contact; `last_contact_ms` is then `contactMs`).
   * `freshness: false` answers like Corrosion (no freshness fields at all).
   */
  freshness = true
  cutOffAt: number | null = null
  contactMs = 20
  isolated = false
  /** Versions of FAKE_ACTOR applied here. */
  readonly versions = new Set<number>()
  maxVersion = 0
  completeVersion = 0
  private server: http.Server | null = null
  private sockets = new Set<Socket>()
  private subCounter = 0

  constructor(
    readonly cluster: FakeCluster,
    readonly name: string,
    readonly rowidBase: number,
  ) {}

  async start(): Promise<void> {
    const server = http.createServer((req, res) => void this.handle(req, res))
    server.on('connection', (s) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => resolve())
    })
    this.server = server
    this.port = (server.address() as AddressInfo).port
    this.url = `http://127.0.0.1:${this.port}`
    this.up = true
    this.stalled = false
  }

  /** Kills the worker: closes the listener and destroys every connection (like SIGKILL). */
  async stop(): Promise<void> {
    if (!this.server) return
    const s = this.server
    this.server = null
    this.up = false
    for (const sub of this.subs.values()) sub.streams.clear()
    for (const sock of this.sockets) sock.destroy()
    await new Promise<void>((r) => s.close(() => r()))
  }

  /** Destroys the connections of every open subscription stream (the worker stays up). */
  dropStreams(): void {
    for (const sub of this.subs.values()) {
      for (const res of sub.streams) res.socket?.destroy()
      sub.streams.clear()
    }
  }

  /** Forgets every subscription (GET by id then answers 404). */
  forgetSubscriptions(): void {
    this.dropStreams()
    this.subs.clear()
  }

  /** Writes a raw line (no newline added) to every open subscription stream. */
  injectRaw(text: string): void {
    for (const sub of this.subs.values()) for (const res of sub.streams) res.write(text)
  }

  /** Books version `v` of FAKE_ACTOR as applied here. */
  book(v: number): void {
    this.versions.add(v)
    this.maxVersion = Math.max(this.maxVersion, v)
    while (this.versions.has(this.completeVersion + 1)) this.completeVersion++
  }

  /** The version of a transaction: its write's, or a new empty version (booked everywhere) when it wrote nothing. */
  private emptyVersion(stmts: unknown[]): number {
    const wrote = stmts.some((st) => Array.isArray(st) && (st[0] === 'UPSERT' || st[0] === 'DELETE'))
    if (!wrote) {
      const v = ++this.cluster.version
      for (const w of this.cluster.workers) w.book(v)
    }
    return this.cluster.version
  }

  /** Cuts the worker off from the rest of the cluster (it keeps answering, but hears nothing). */
  cutOff(isolated = false): void {
    this.cutOffAt = Date.now()
    this.isolated = isolated
  }

  /** Reconnects it to the cluster (and brings its data up to date). */
  reconnect(): void {
    this.cutOffAt = null
    this.isolated = false
    this.cluster.catchUp(this)
  }

  streamCount(): number {
    let n = 0
    for (const sub of this.subs.values()) n += sub.streams.size
    return n
  }

  apply(pk: string, cells: Cells | null): void {
    const prev = this.data.get(pk)
    if (cells === null) this.data.delete(pk)
    else this.data.set(pk, cells)
    for (const sub of this.subs.values()) {
      let type: string
      let rowid = sub.rowidByPk.get(pk)
      let out: Cells
      if (cells === null) {
        if (rowid === undefined) continue
        type = 'delete'
        out = sub.cells.get(pk) as Cells
        sub.rowidByPk.delete(pk)
        sub.cells.delete(pk)
      } else if (rowid === undefined) {
        type = 'insert'
        rowid = sub.nextRowid++
        sub.rowidByPk.set(pk, rowid)
        sub.cells.set(pk, cells)
        out = cells
      } else {
        if (JSON.stringify(sub.cells.get(pk)) === JSON.stringify(cells)) continue
        type = 'update'
        sub.cells.set(pk, cells)
        out = cells
      }
      sub.lastChangeId += 1 + this.gapNext
      const change: [string, number, Cells, number] = [type, rowid, out, sub.lastChangeId]
      sub.log.push(change)
      if (!this.stalled) for (const res of sub.streams) res.write(JSON.stringify({ change }) + '\n')
    }
    this.gapNext = 0
    void prev
  }

  private newSub(sql: string): FakeSub {
    const sub: FakeSub = {
      id: `${this.name}-sub-${++this.subCounter}`,
      sql,
      rowidByPk: new Map(),
      cells: new Map(),
      nextRowid: this.rowidBase + 1,
      log: [],
      lastChangeId: 0,
      streams: new Set(),
    }
    for (const [pk, cells] of [...this.data].sort(([a], [b]) => (a < b ? -1 : 1))) {
      sub.rowidByPk.set(pk, sub.nextRowid++)
      sub.cells.set(pk, cells)
    }
    this.subs.set(sub.id, sub)
    return sub
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x')
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    let body: unknown = undefined
    if (raw !== '') {
      try {
        body = JSON.parse(raw)
      } catch {
        body = raw
      }
    }
    this.requests.push({
      method: req.method ?? '',
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      body,
      headers: req.headers,
    })
    if (this.stalled) return // never answer
    if (this.token !== null && req.headers.authorization !== `Bearer ${this.token}`) {
      res.writeHead(401).end()
      return
    }
    const override = this.overrides.get(`${req.method} ${u.pathname}`)
    if (override) return override(req, res, body)
    const json = (status: number, v: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v))
    }
    const path = u.pathname
    if (req.method === 'GET' && path === '/v1/health') {
      if (this.healthDelayMs > 0) await new Promise((r) => setTimeout(r, this.healthDelayMs))
      if (!this.up) return
      const base = { gaps: 0, members: this.cluster.workers.length, p99_lag: 0.01, queue_size: 0 }
      const others = this.cluster.workers.filter((w) => w !== this && w.up).length
      json(this.healthStatus, {
        response: !this.freshness
          ? base
          : {
              ...base,
              gaps: this.maxVersion - this.versions.size,
              isolated: this.isolated,
              last_contact_ms: this.cutOffAt === null ? this.contactMs : Date.now() - this.cutOffAt,
              reachable_members: this.cutOffAt === null ? others : 0,
              heads:
                this.maxVersion === 0
                  ? {}
                  : { [FAKE_ACTOR]: { max: this.maxVersion, complete: this.completeVersion } },
            },
      })
      return
    }
    if (req.method === 'GET' && path === '/v1/cluster/members') {
      json(200, {
        members: this.cluster.workers.map((w) => ({
          actor_id: `actor-${w.name}`,
          peer_id: `peer-${w.name}`,
          gossip_addrs: [],
          api_addr: `0.0.0.0:${w.port}`,
          region: 'local',
          role: 'worker',
          incarnation: 0,
          state: w.up ? 'alive' : 'down',
          rtt_ms: null,
          self: w === this,
        })),
      })
      return
    }
    if (req.method === 'POST' && path === '/v1/transactions') {
      const stmts = body as unknown[]
      if (!Array.isArray(stmts) || stmts.length === 0) {
        json(400, {
          results: [{ error: 'at least 1 statement is required' }],
          time: 0,
          version: null,
          actor_id: `actor-${this.name}`,
        })
        return
      }
      for (const s of stmts) {
        const [sql, params] = Array.isArray(s) ? (s as [string, JsonSqlValue[]]) : [String(s), []]
        if (sql.startsWith('FAIL')) {
          json(500, {
            results: [{ error: 'no such table: nope', code: 'PATINA_ERR_SQL' }],
            time: 0,
            version: null,
            actor_id: `actor-${this.name}`,
          })
          return
        }
        if (sql === 'UPSERT') this.cluster.write(String(params[0]), params)
        if (sql === 'DELETE') this.cluster.write(String(params[0]), null)
      }
      json(200, {
        results: stmts.map(() => ({ rows_affected: 1, time: 0.0001 })),
        time: 0.0002,
        version: this.emptyVersion(stmts),
        actor_id: `actor-${this.name}`,
      })
      return
    }
    if (req.method === 'POST' && path === '/v1/queries') {
      if (typeof body === 'string' && body.includes('INSERT')) {
        json(400, { error: 'statement is not readonly', code: 'PATINA_ERR_NOT_READONLY' })
        return
      }
      res.writeHead(200, { 'content-type': 'application/x-ndjson' })
      res.write(JSON.stringify({ columns: COLUMNS }) + '\n')
      let i = 0
      for (const [, cells] of [...this.data].sort(([a], [b]) => (a < b ? -1 : 1)))
        res.write(JSON.stringify({ row: [++i, cells] }) + '\n')
      res.end(JSON.stringify({ eoq: { time: 1e-5 } }) + '\n')
      return
    }
    if (req.method === 'POST' && path.startsWith('/v1/updates/')) {
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'corro-query-id': 'updates-1' })
      res.write(JSON.stringify({ notify: ['update', ['a']] }) + '\n')
      res.end(JSON.stringify({ notify: ['delete', ['b']] }) + '\n')
      return
    }
    if (req.method === 'POST' && path === '/v1/table_stats') {
      const tables = (body as { tables: string[] }).tables
      json(200, { total_row_count: this.data.size, invalid_tables: tables.filter((t) => t !== 'routes') })
      return
    }
    const from = u.searchParams.has('from') ? Number(u.searchParams.get('from')) : null
    if (req.method === 'POST' && path === '/v1/subscriptions') {
      const sql = JSON.stringify(body)
      if (JSON.stringify(body).includes('BAD')) {
        json(400, { error: 'no such table: BAD' })
        return
      }
      let sub = [...this.subs.values()].find((s) => s.sql === sql)
      if (from !== null && from > 0 && !sub) {
        json(400, { error: 'a `from` query param was supplied, but no existing subscription found' })
        return
      }
      sub ??= this.newSub(sql)
      this.stream(sub, res, from, u.searchParams.get('skip_rows') === 'true')
      return
    }
    if (req.method === 'GET' && path.startsWith('/v1/subscriptions/')) {
      const id = decodeURIComponent(path.slice('/v1/subscriptions/'.length))
      const sub = this.subs.get(id)
      if (!sub) {
        json(404, { error: `could not find subscription with id ${id}` })
        return
      }
      this.stream(sub, res, from, u.searchParams.get('skip_rows') === 'true')
      return
    }
    json(404, { error: 'not found' })
  }

  private stream(sub: FakeSub, res: http.ServerResponse, from: number | null, skipRows: boolean): void {
    res.writeHead(200, {
      'content-type': 'application/x-ndjson',
      'corro-query-id': sub.id,
      'corro-query-hash': `hash-${sub.sql.length}`,
    })
    // as a real worker does: the headers go out at once, even when there is nothing to replay
    res.flushHeaders()
    if (from === null || from === 0) {
      if (!skipRows) {
        res.write(JSON.stringify({ columns: COLUMNS }) + '\n')
        const rows = [...sub.rowidByPk].sort((a, b) => a[1] - b[1])
        for (const [pk, rowid] of rows) res.write(JSON.stringify({ row: [rowid, sub.cells.get(pk)] }) + '\n')
        res.write(JSON.stringify({ eoq: { time: 1e-5, change_id: sub.lastChangeId } }) + '\n')
      }
    } else {
      for (const change of sub.log) if (change[3] > from) res.write(JSON.stringify({ change }) + '\n')
    }
    sub.streams.add(res)
    res.on('close', () => sub.streams.delete(res))
  }
}

export { waitFor } from '../../../test/helpers/wait.js'
