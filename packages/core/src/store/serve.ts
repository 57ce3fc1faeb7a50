import type { SqlValue } from '@patina/api'
import type { Database as Db, Statement as DbStatement } from 'better-sqlite3'
import { unpackPk } from '../crdt/pk.js'
import { decodeRowClock } from '../crdt/row-clock.js'
import { exactValue } from '../crdt/values.js'
import {
  SENTINEL,
  type ActorId,
  type Change,
  type Changeset,
  type FullChangeset,
  type SyncState,
} from '../types.js'
import { RangeSet } from '../versions/range-set.js'
import { bufferedChunks } from './buffered.js'
import { changeSize } from './chunk.js'
import type { StoreContext } from './context.js'
import { clockTable, q } from './schema-store.js'
import { decodeVersEntries } from './version-index.js'

/**
 * Sync serving, the read side of anti-entropy: what this node has (`syncState`) and the
 * changesets a peer lacks (`changesFor`). Versions are rebuilt from the version index and the
 * rows' clocks with their *current* values, so a version whose every cell was overwritten since
 * is answered as cleared (an empty changeset) instead of resending dead values. Serving runs on
 * read connections and pages its reads, so a slow peer never holds the writer.
 */
export class Serve {
  /** Statements prepared per read connection (serving runs many small lookups). */
  private readonly connStmts = new WeakMap<Db, Map<string, DbStatement>>()

  constructor(private readonly ctx: StoreContext) {}

  /**
   * Per-actor heads, gaps and partials of this node. Versions refused and not yet due for a
   * retry are left out of `need`, so peers do not send them again (`versions/refused.ts`).
   */
  syncState(): SyncState {
    const state: SyncState = { actorId: this.ctx.actorId, heads: {}, need: {}, partialNeed: {} }
    const now = this.ctx.clock.now()
    for (const [site, b] of this.ctx.books.entries()) {
      const actor = this.ctx.actorOf(site)
      if (actor === undefined || b.head === 0) continue
      state.heads[actor] = b.head
      let need = b.gaps
      const held = this.ctx.refused.held(site, now)
      if (held.length > 0) {
        need = RangeSet.from(b.gaps.toArray())
        for (const v of held) need.remove(v, v)
      }
      if (!need.isEmpty()) state.need[actor] = need.toArray()
      if (b.partials.size > 0) state.partialNeed[actor] = b.partialNeeds()
    }
    return state
  }

  /**
   * Changesets this node has that `theirs` lacks, in chunks of about `maxChunkBytes`. The
   * peer's own actor is served like any other: a peer always holds its own versions up to its
   * head, so it gets nothing of them unless its database is older than what this node knows of
   * it (a restore from an old copy, a commit lost in an OS crash); then it gets back the versions
   * beyond its head, instead of issuing those numbers again.
   */
  *changesFor(theirs: SyncState, opts: { maxChunkBytes?: number } = {}): Generator<Changeset> {
    const maxBytes = opts.maxChunkBytes ?? this.ctx.maxChunkBytes
    for (const [site, b] of [...this.ctx.books.entries()]) {
      const actor = this.ctx.actorOf(site)
      if (actor === undefined || b.head === 0) continue
      const want = new RangeSet()
      const theirHead = theirs.heads[actor] ?? 0
      if (b.head > theirHead) want.add(theirHead + 1, b.head)
      for (const [x, y] of theirs.need[actor] ?? []) want.add(x, Math.min(y, b.head))
      for (const v of Object.keys(theirs.partialNeed[actor] ?? {}))
        if (Number(v) <= b.head) want.add(Number(v), Number(v))
      for (const [x, y] of want.toArray()) {
        const lacking = RangeSet.from(b.needIn(x, y))
        for (const [a, e] of lacking.missing(x, y)) yield* this.serveRange(site, actor, a, e, maxBytes)
        for (const v of b.partials.keys()) {
          if (v < x || v > y) continue
          yield* bufferedChunks(this.ctx.stmts, site, v)
        }
      }
    }
  }

  /** Stream versions [a, b] of one actor from the version index, paging so no statement stays open across yields. */
  private *serveRange(
    site: number,
    actor: ActorId,
    a: number,
    b: number,
    maxBytes: number,
  ): Generator<Changeset> {
    const reader = this.ctx.readers?.acquire()
    const conn = reader?.db ?? this.ctx.db
    const page = conn.prepare<
      [site: number, from: number, to: number, afterVersion: number, sameVersion: number, afterSeq: number],
      { db_version: number; seq: number; ts: number; last_seq: number; entries: Buffer }
    >(
      `SELECT db_version, seq, ts, last_seq, entries FROM __patina_vers
       WHERE site = ? AND db_version BETWEEN ? AND ? AND (db_version > ? OR (db_version = ? AND seq > ?))
       ORDER BY db_version, seq LIMIT 16`,
    )
    // Versions below `nextVersion` have been answered (full or empty).
    let nextVersion = a
    let cur: FullChangeset | null = null
    let servedCur = false
    let bytes = 0
    let lastV = a - 1
    let lastSeq = -1
    const finishVersion = function* (): Generator<Changeset> {
      if (cur === null) return
      const done: FullChangeset = cur
      cur = null
      if (done.changes.length > 0) {
        done.seqEnd = done.lastSeq
        yield done
      } else if (!servedCur) {
        // Every row of this version was overwritten since: it is cleared.
        yield { kind: 'empty', actorId: actor, versions: [done.version, done.version] }
      } else {
        done.seqEnd = done.lastSeq
        yield done
      }
    }
    try {
      for (;;) {
        const groups = page.all(site, a, b, lastV, lastV, lastSeq)
        if (groups.length === 0) break
        for (const g of groups) {
          lastV = g.db_version
          lastSeq = g.seq
          if (cur !== null && (cur as FullChangeset).version !== g.db_version) yield* finishVersion()
          if (cur === null) {
            if (g.db_version > nextVersion)
              yield { kind: 'empty', actorId: actor, versions: [nextVersion, g.db_version - 1] }
            nextVersion = g.db_version + 1
            cur = {
              kind: 'full',
              actorId: actor,
              version: g.db_version,
              ts: g.ts,
              seqStart: 0,
              seqEnd: g.last_seq,
              lastSeq: g.last_seq,
              changes: [],
            }
            servedCur = false
            bytes = 0
          }
          for (const e of decodeVersEntries(g.entries)) {
            const changes = this.rowChangesFor(conn, site, g.db_version, e.tbl, e.pk)
            if (changes.length === 0) continue
            const size = changes.reduce((n, c) => n + changeSize(c), 0)
            const open: FullChangeset = cur as FullChangeset
            if (open.changes.length > 0 && bytes + size > maxBytes) {
              open.seqEnd = e.seq - 1
              yield open
              servedCur = true
              cur = { ...open, seqStart: e.seq, seqEnd: open.lastSeq, changes: [] }
              bytes = 0
            }
            ;(cur as FullChangeset).changes.push(...changes)
            bytes += size
          }
        }
      }
      yield* finishVersion()
      if (nextVersion <= b) yield { kind: 'empty', actorId: actor, versions: [nextVersion, b] }
    } finally {
      if (reader !== undefined) this.ctx.readers?.release(reader)
    }
  }

  /** A prepared statement cached per connection (sync serving runs many small lookups). */
  private connStmt(conn: Db, sql: string, rawSafe = false): DbStatement {
    let m = this.connStmts.get(conn)
    if (m === undefined) this.connStmts.set(conn, (m = new Map()))
    let st = m.get(sql)
    if (st === undefined) {
      st = conn.prepare(sql)
      if (rawSafe) st.raw(true).safeIntegers(true)
      m.set(sql, st)
    }
    return st
  }

  /** The live changes of one row that belong to version `dbv` of `site`, with current values. */
  private rowChangesFor(conn: Db, site: number, dbv: number, tblOrd: number, pk: Buffer): Change[] {
    const rt = this.ctx.tablesByOrd.get(tblOrd)
    if (rt === undefined) return []
    const clockRow = this.connStmt(conn, `SELECT clock FROM ${clockTable(rt.model.name)} WHERE pk = ?`).get(
      pk,
    ) as { clock: Buffer } | undefined
    if (clockRow === undefined) return []
    const clock = decodeRowClock(clockRow.clock)
    const out: Change[] = []
    const table = rt.model.name
    if (clock.sentinel.site === site && clock.sentinel.dbv === dbv) {
      out.push({
        table,
        pk,
        cid: SENTINEL,
        val: null,
        colVersion: clock.cl,
        cl: clock.cl,
        seq: clock.sentinel.seq,
      })
    }
    let row: SqlValue[] | undefined
    for (const [cid, c] of clock.cols) {
      if (c.site !== site || c.dbv !== dbv) continue
      if (row === undefined) {
        const st = this.connStmt(
          conn,
          `SELECT ${rt.model.nonPk.map(q).join(', ')} FROM ${q(table)} WHERE ${rt.model.pk.map((p) => `${q(p)} = ?`).join(' AND ')}`,
          true,
        )
        row = ((st.get(...unpackPk(pk)) as unknown[] | undefined) ?? []).map(exactValue)
      }
      out.push({
        table,
        pk,
        cid,
        val: (row[rt.nonPkIndex.get(cid) as number] as SqlValue) ?? null,
        colVersion: c.v,
        cl: clock.cl,
        seq: c.seq,
      })
    }
    return out.sort((x, y) => x.seq - y.seq)
  }
}
