import { PatinaError } from '@patina/api'
import type { SqlValue } from '@patina/api'
import type { Statement as DbStatement } from 'better-sqlite3'
import { isAlive } from '../crdt/merge.js'
import { pkKey, unpackPk } from '../crdt/pk.js'
import { decodeRowClock, emptyRowClock, encodeRowClock, liveRefs, refKey } from '../crdt/row-clock.js'
import { mergeRow } from '../crdt/row-merge.js'
import { exactValue } from '../crdt/values.js'
import { SENTINEL, type ApplyResult, type Change, type Changeset, type CommitEvent } from '../types.js'
import type { FullChangeset, RowChange } from '../types.js'
import { refusalOf } from '../versions/refused.js'
import type { BooksEdit } from './books.js'
import { bufferChunk, bufferedChunks, dropBuffered } from './buffered.js'
import type { StoreContext, TableRuntime } from './context.js'
import { q } from './schema-store.js'
import { retireRefs, VersGroups } from './version-index.js'

/**
 * Remote apply: changesets from other nodes, many per SQLite transaction. For each changeset
 * it decides from the books whether it is known, complete or one chunk of a version (then
 * buffered until every seq has arrived), merges complete versions row by row with the pure
 * `mergeRow` decision, and persists the books in the same transaction. When the transaction
 * rolls back, the in-memory books are rolled back with it (`BooksEdit`).
 *
 * Each changeset runs under a savepoint: one whose rows SQLite refuses (or that names what this
 * schema lacks) is rolled back alone and recorded as refused (`versions/refused.ts`), and the
 * rest of the batch applies; a failure of the node itself (I/O, disk full) fails the batch.
 */

/** What one changeset did, kept apart until its savepoint is released. */
interface OneApply {
  applied: number
  ignored: number
  buffered: number
  versions: { actorId: string; version: number }[]
  rows: Map<string, RowChange>
  /** The transaction timestamp of a version that became complete. */
  ts: number | null
  /** Version ranges now complete (no longer refused). */
  cleared: [number, number][]
}

/** An applied batch: the answer, and what the commit listeners are told (null: nothing changed). */
export interface RemoteApply {
  result: ApplyResult
  event: CommitEvent | null
}

/** At most this many versions of one cleared range are reported one by one in `result.versions`. */
const MAX_CLEARED_REPORTED = 100_000

export class Apply {
  /** Row writes by table, kind and column list: a merge writes only the cells that won. */
  private readonly rowWrites = new Map<string, DbStatement>()

  constructor(private readonly ctx: StoreContext) {}

  /** Forgets the prepared row writes (the schema changed). */
  clearCache(): void {
    this.rowWrites.clear()
  }

  apply(changesets: Changeset[]): RemoteApply {
    const ctx = this.ctx
    const result: ApplyResult = { applied: 0, ignored: 0, versions: [], buffered: 0, refused: [] }
    const rows = new Map<string, RowChange>()
    const timestamps: number[] = []
    // Actors are registered before the transaction: a rollback must not take back an ordinal
    // that memory still hands out.
    for (const cs of changesets) ctx.siteOrd(cs.actorId)
    const edit = ctx.books.edit()
    const dbVersionBefore = ctx.dbVersion
    // Changes to the refused registry, made once the transaction has committed.
    const cleared: [site: number, a: number, b: number][] = []
    const refusals: { cs: FullChangeset; site: number; code: string; reason: string }[] = []
    try {
      ctx.db.transaction(() => {
        for (const cs of changesets) {
          const site = ctx.siteOrd(cs.actorId)
          edit.open(site)
          const before = ctx.books.get(site).clone()
          const one: OneApply = {
            applied: 0,
            ignored: 0,
            versions: [],
            buffered: 0,
            rows: new Map(),
            ts: null,
            cleared: [],
          }
          try {
            // Each changeset under a savepoint: one that fails is refused alone (see refused.ts).
            ctx.db.transaction(() => this.applyOne(cs, site, edit, one))()
          } catch (err) {
            const refusal = refusalOf(err)
            if (refusal === null || cs.kind !== 'full') throw err
            edit.restore(site, before)
            this.refuse(cs, site, edit)
            refusals.push({ cs, site, ...refusal })
            continue
          }
          cleared.push(...one.cleared.map(([a, b]) => [site, a, b] as [number, number, number]))
          result.applied += one.applied
          result.ignored += one.ignored
          result.buffered += one.buffered
          result.versions.push(...one.versions)
          if (one.ts !== null) timestamps.push(one.ts)
          for (const [k, r] of one.rows) {
            const prev = rows.get(k)
            rows.set(k, prev === undefined ? r : { ...r, cids: [...new Set([...prev.cids, ...r.cids])] })
          }
        }
        // Versions of this node's own actor learned back from peers: the next commit follows them.
        const self = ctx.books.get(ctx.selfOrd)
        if (self.head > ctx.dbVersion) {
          ctx.dbVersion = self.head
          ctx.stmts.putMeta.run('db_version', ctx.dbVersion)
        }
        edit.persist()
      })()
    } catch (err) {
      // Roll the in-memory bookkeeping back to what the rolled-back transaction left.
      edit.rollback()
      ctx.dbVersion = dbVersionBefore
      throw err
    }
    const now = ctx.clock.now()
    for (const [site, a, b] of cleared) ctx.refused.clear(site, a, b)
    for (const { cs, site, code, reason } of refusals) {
      const { first } = ctx.refused.record(site, cs.version, code, reason, now)
      result.refused.push({ actorId: cs.actorId, version: cs.version, code, reason, first })
    }
    const changed = rows.size > 0 || result.versions.length > 0
    const event: CommitEvent | null = changed
      ? { source: 'remote', rows: [...rows.values()], versions: result.versions, timestamps }
      : null
    return { result, event }
  }

  /**
   * One changeset: an empty one marks versions cleared; a full one is ignored when known (or
   * refused and not yet due), merged when it completes its version, buffered otherwise.
   * Versions of this node's own actor are taken like any other's when the books lack them: a
   * node restarted from an older copy of its database gets back what peers know of it.
   */
  private applyOne(cs: Changeset, site: number, edit: BooksEdit, one: OneApply): void {
    const ctx = this.ctx
    const b = ctx.books.get(site)
    if (cs.kind === 'empty') {
      const [a, e] = cs.versions
      if (b.needIn(a, e).length === 0) return
      for (const v of b.partials.keys()) if (v >= a && v <= e) edit.touchPartial(site, v)
      dropBuffered(ctx.stmts, site, a, e)
      for (const [x, y] of b.needIn(a, e))
        for (let v = x; v <= y && v - x < MAX_CLEARED_REPORTED; v++)
          one.versions.push({ actorId: cs.actorId, version: v })
      b.markComplete(a, e)
      one.cleared.push([a, e])
      return
    }
    if (
      b.containsSeqs(cs.version, cs.seqStart, cs.seqEnd) ||
      ctx.refused.isHeld(site, cs.version, ctx.clock.now())
    ) {
      one.ignored += cs.changes.length
      return
    }
    this.checkKnown(cs)
    ctx.hlc.observe(cs.ts)
    if (cs.seqStart === 0 && cs.seqEnd === cs.lastSeq) {
      // A chunk covering the whole version supersedes anything buffered for it.
      this.mergeChanges(site, cs, one)
      if (b.partials.has(cs.version)) {
        dropBuffered(ctx.stmts, site, cs.version, cs.version)
        edit.touchPartial(site, cs.version)
      }
      b.markComplete(cs.version)
    } else {
      bufferChunk(ctx.stmts, site, cs)
      edit.touchPartial(site, cs.version)
      one.buffered++
      if (!b.markPartial(cs.version, cs.seqStart, cs.seqEnd, cs.lastSeq, cs.ts)) return
      for (const ch of bufferedChunks(ctx.stmts, site, cs.version)) this.mergeChanges(site, ch, one)
      dropBuffered(ctx.stmts, site, cs.version, cs.version)
      b.markComplete(cs.version)
    }
    one.cleared.push([cs.version, cs.version])
    one.versions.push({ actorId: cs.actorId, version: cs.version })
    one.ts = cs.ts
  }

  /**
   * A version that failed to apply (its savepoint rolled back): it stays missing in the books,
   * its buffered chunks are dropped (peers send it whole when it is retried), and it is held
   * back until its retry time.
   */
  private refuse(cs: FullChangeset, site: number, edit: BooksEdit): void {
    const ctx = this.ctx
    const b = ctx.books.get(site)
    if (b.partials.has(cs.version)) edit.touchPartial(site, cs.version)
    dropBuffered(ctx.stmts, site, cs.version, cs.version)
    b.markRefused(cs.version)
  }

  /** Refuse a changeset naming tables or columns this node's schema does not have (retried later by sync). */
  private checkKnown(cs: FullChangeset): void {
    for (const c of cs.changes) {
      const rt = this.ctx.tables.get(c.table)
      if (rt === undefined) {
        throw new PatinaError(
          'PATINA_ERR_UNKNOWN_TABLE',
          `changeset ${cs.actorId}@${cs.version} names unknown table "${c.table}"`,
        )
      }
      if (c.cid !== SENTINEL && !rt.nonPkIndex.has(c.cid)) {
        throw new PatinaError(
          'PATINA_ERR_CHANGESET_INVALID',
          `changeset ${cs.actorId}@${cs.version} names unknown column "${c.table}"."${c.cid}"`,
        )
      }
      if (c.pk[0] !== rt.model.pk.length || unpackPk(c.pk).includes(null)) {
        throw new PatinaError(
          'PATINA_ERR_CHANGESET_INVALID',
          `changeset ${cs.actorId}@${cs.version}: primary key of "${c.table}" has the wrong arity or a NULL value`,
        )
      }
    }
  }

  /** Merge the changes of one complete chunk; changes of one row are contiguous and in seq order. */
  private mergeChanges(site: number, cs: FullChangeset, one: OneApply): void {
    const changes = cs.changes
    const vers = new VersGroups(site, cs.version)
    let i = 0
    while (i < changes.length) {
      const first = changes[i] as Change
      let j = i + 1
      while (
        j < changes.length &&
        (changes[j] as Change).table === first.table &&
        Buffer.compare((changes[j] as Change).pk, first.pk) === 0
      )
        j++
      this.applyRow(site, cs, changes.slice(i, j), one, vers)
      i = j
    }
    vers.flush(this.ctx.stmts.insVers, cs.ts, cs.lastSeq)
  }

  /** Reads one row's clock, lets `mergeRow` decide, and writes the row, its clock and its index entry. */
  private applyRow(site: number, cs: FullChangeset, group: Change[], one: OneApply, vers: VersGroups): void {
    const first = group[0] as Change
    const rt = this.ctx.tables.get(first.table) as TableRuntime
    const pk = first.pk
    const existing = rt.getClock.get(pk)
    const before = existing ? decodeRowClock(existing.clock) : emptyRowClock()
    let localRow: SqlValue[] | null | undefined
    const m = mergeRow({
      clock: before,
      changes: group,
      origin: { site, actorId: cs.actorId, dbv: cs.version },
      localValue: (cid) => {
        if (localRow === undefined) {
          const r = rt.selectRow.get(...unpackPk(pk))
          localRow = r === undefined ? null : r.map(exactValue)
        }
        return localRow === null ? null : ((localRow[rt.nonPkIndex.get(cid) as number] as SqlValue) ?? null)
      },
      actorOf: (ord) => this.ctx.actorOf(ord) ?? '',
    })
    one.ignored += m.ignored
    if (m.won === 0) return
    one.applied += m.won
    const { clock, winners, reset } = m
    const pkValues = unpackPk(pk)
    const wasAlive = isAlive(before.cl)
    const alive = isAlive(clock.cl)
    if (!alive) {
      if (wasAlive) rt.deleteRow.run(...pkValues)
    } else if (reset) {
      const cols = [...winners.keys()]
      this.rowWrite(rt, 'replace', cols).run(...pkValues, ...cols.map((c) => winners.get(c) as SqlValue))
    } else if (winners.size > 0) {
      const cols = [...winners.keys()]
      this.rowWrite(rt, 'update', cols).run(...cols.map((c) => winners.get(c) as SqlValue), ...pkValues)
    }
    const key = refKey(site, cs.version)
    retireRefs(this.ctx.stmts, clock, liveRefs(before))
    if (!clock.refs.has(key)) clock.refs.set(key, vers.add(rt.ord, pk, m.minSeq))
    rt.putClock.run(pk, clock.cl, encodeRowClock(clock))
    const rk = `${rt.ord}:${pkKey(pk)}`
    const prev = one.rows.get(rk)
    const cids = new Set(prev?.cids ?? [])
    if (reset || alive !== wasAlive) cids.add(SENTINEL)
    for (const c of winners.keys()) cids.add(c)
    one.rows.set(rk, { table: rt.model.name, pk, pkValues, cids: [...cids], deleted: !alive })
  }

  /**
   * The statement writing the cells `cols` of a row: a full rewrite (`replace`, a new life:
   * cells not listed take their defaults) or an update of those cells only.
   */
  private rowWrite(rt: TableRuntime, kind: 'replace' | 'update', cols: string[]): DbStatement {
    const key = `${rt.model.name}\u0000${kind}\u0000${cols.join('\u0000')}`
    let st = this.rowWrites.get(key)
    if (st === undefined) {
      const t = q(rt.model.name)
      if (kind === 'replace') {
        const all = [...rt.model.pk, ...cols]
        st = this.ctx.db.prepare(
          `INSERT OR REPLACE INTO ${t} (${all.map(q).join(', ')}) VALUES (${all.map(() => '?').join(', ')})`,
        )
      } else {
        st = this.ctx.db.prepare(
          `UPDATE ${t} SET ${cols.map((c) => `${q(c)} = ?`).join(', ')} WHERE ${rt.model.pk.map((c) => `${q(c)} = ?`).join(' AND ')}`,
        )
      }
      this.rowWrites.set(key, st)
    }
    return st
  }
}
