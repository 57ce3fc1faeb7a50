import { randomBytes } from 'node:crypto'
import { PatinaError } from '@patina/api'
import type { SqlValue } from '@patina/api'
import { isAlive } from '../crdt/merge.js'
import { packPk, pkKey } from '../crdt/pk.js'
import {
  decodeRowClock,
  emptyRowClock,
  encodeFreshRowClock,
  encodeRowClock,
  liveRefs,
  refKey,
} from '../crdt/row-clock.js'
import { valuesEqual } from '../crdt/values.js'
import { SENTINEL, type Change, type FullChangeset, type RowChange } from '../types.js'
import { chunkChanges } from './chunk.js'
import type { StoreContext, TableRuntime } from './context.js'
import { q } from './schema-store.js'
import { retireRefs, VersGroups } from './version-index.js'

/**
 * Change capture for local writes. TEMP triggers on every replicated table call the capture
 * function with the old and new values of each row a statement writes; capture keeps the *net*
 * effect per row of the current transaction (`Touch`), and `commit` turns those into clock
 * updates, version-index entries, booked versions and changesets, inside the same transaction
 * as the writes themselves.
 *
 * Values arrive with their storage class (`safeIntegers`: an INTEGER as a bigint, a REAL as a
 * number), so INTEGER 1 → REAL 1.0 is a change and replicas store what the writer stored.
 *
 * `recursive_triggers` is on (`db.ts`), as in Corrosion: a REPLACE conflict fires the delete
 * trigger of the row it replaces, so a row deleted and inserted again in one transaction
 * (REPLACE, UPDATE OR REPLACE onto another key, or DELETE then INSERT) starts a new life
 * (causal length + 2) instead of updating the old one.
 */

/**
 * The capture function's name: `__patina_capture_` and 64 random bits, new for every engine, so
 * no client statement can name it (client SQL that calls any `__patina` function is also refused
 * from its `EXPLAIN` program, `writes.ts`).
 */
const captureFunctionName = (): string => `__patina_capture_${randomBytes(8).toString('hex')}`

/** What a trigger reports: the `kind` argument of `__patina_capture`. */
const CAPTURE = { insert: 1, update: 2, delete: 3 } as const

/** The net effect of one transaction on one row. */
interface Touch {
  /** Packed key, computed at commit. */
  pk: Uint8Array | null
  pkValues: SqlValue[]
  /** The row's values before the transaction, when known (`beforeKnown`). */
  before: SqlValue[] | null
  /** False for a row first seen by an insert: it may be new, or replace a tombstone or a live row. */
  beforeKnown: boolean
  /** The row's values now, or null when the transaction deleted it. */
  after: SqlValue[] | null
  /** The transaction deleted the row and inserted it again (a REPLACE): a new life. */
  recreated: boolean
}

/** What a local commit produced: no version when the transaction changed nothing. */
export interface LocalCommit {
  version: number | null
  changesets: FullChangeset[]
  rows: RowChange[]
  ts: number
}

export class Capture {
  private capturing = false
  private readonly touches = new Map<number, Map<TouchKey, Touch>>()
  /** The name of this engine's capture function (see `captureFunctionName`). */
  readonly functionName = captureFunctionName()

  constructor(private readonly ctx: StoreContext) {
    ctx.db.function(
      this.functionName,
      { varargs: true, deterministic: false, safeIntegers: true },
      (...args: unknown[]) => {
        if (this.capturing) this.onTrigger(args)
        return null
      },
    )
  }

  /**
   * (Re)creates the capture triggers of every replicated table. They are TEMP: they live on
   * the writer connection only, so reads and other processes never run them.
   */
  installTriggers(): void {
    for (const rt of this.ctx.tables.values()) {
      const m = rt.model
      const name = m.name
      const cols = (prefix: string, list: string[]) => list.map((c) => `${prefix}.${q(c)}`).join(', ')
      const pkN = cols('NEW', m.pk)
      const pkO = cols('OLD', m.pk)
      const vN = m.nonPk.length ? `, ${cols('NEW', m.nonPk)}` : ''
      const vO = m.nonPk.length ? `, ${cols('OLD', m.nonPk)}` : ''
      const t = (kind: string) => q(`__patina_${kind}_${name}`)
      const fn = (kind: number) => `${this.functionName}(${rt.ord}, ${kind}`
      this.ctx.db.exec(`
      DROP TRIGGER IF EXISTS temp.${t('ins')}; DROP TRIGGER IF EXISTS temp.${t('upd')}; DROP TRIGGER IF EXISTS temp.${t('del')};
      CREATE TEMP TRIGGER ${t('ins')} AFTER INSERT ON main.${q(name)} BEGIN SELECT ${fn(CAPTURE.insert)}, ${pkN}${vN}); END;
      CREATE TEMP TRIGGER ${t('upd')} AFTER UPDATE ON main.${q(name)} BEGIN SELECT ${fn(CAPTURE.update)}, ${pkO}${vO}, ${pkN}${vN}); END;
      CREATE TEMP TRIGGER ${t('del')} AFTER DELETE ON main.${q(name)} BEGIN SELECT ${fn(CAPTURE.delete)}, ${pkO}${vO}); END;
    `)
    }
  }

  /** Starts capturing a transaction's writes. */
  begin(): void {
    this.touches.clear()
    this.capturing = true
  }

  /** Stops capturing and forgets the touches (after commit or rollback). */
  end(): void {
    this.capturing = false
    this.touches.clear()
  }

  private onTrigger(args: unknown[]): void {
    const rt = this.ctx.tablesByOrd.get(Number(args[0]))
    if (rt === undefined) return
    const kind = Number(args[1])
    const np = rt.model.pk.length
    const nv = rt.model.nonPk.length
    const take = (from: number, n: number): SqlValue[] => this.takeArgs(args, from, n)
    if (kind === CAPTURE.insert) this.touchWrite(rt, take(2, np), take(2 + np, nv), 'insert')
    else if (kind === CAPTURE.delete) this.touchWrite(rt, take(2, np), take(2 + np, nv), 'delete')
    else {
      const oldPk = take(2, np)
      const oldV = take(2 + np, nv)
      const newPk = take(2 + np + nv, np)
      const newV = take(2 + 2 * np + nv, nv)
      if (oldPk.every((v, i) => valuesEqual(v, newPk[i] as SqlValue)))
        this.touchWrite(rt, newPk, newV, 'update', oldV)
      else {
        // A key change is a delete of the old row and an insert of the new one.
        this.touchWrite(rt, oldPk, oldV, 'delete')
        this.touchWrite(rt, newPk, newV, 'insert')
      }
    }
  }

  /** Captured values, exact: an INTEGER is a bigint, a REAL a number. */
  private takeArgs(args: unknown[], from: number, n: number): SqlValue[] {
    const out = new Array<SqlValue>(n)
    for (let i = 0; i < n; i++) {
      const v = args[from + i] as SqlValue | undefined
      out[i] = v === undefined ? null : v
    }
    return out
  }

  /** A row already in a table that has no clock yet, captured as an insert (see `adopt.ts`). */
  touchExisting(rt: TableRuntime, pkValues: SqlValue[], vals: SqlValue[]): void {
    this.touchWrite(rt, pkValues, vals, 'insert')
  }

  private touchWrite(
    rt: TableRuntime,
    pkValues: SqlValue[],
    vals: SqlValue[],
    op: 'insert' | 'update' | 'delete',
    oldV?: SqlValue[],
  ): void {
    if (op !== 'delete') refuseNullKey(rt, pkValues)
    if (op === 'insert') refuseIntegralRealKey(rt, pkValues)
    const key = touchKey(pkValues)
    let m = this.touches.get(rt.ord)
    if (m === undefined) this.touches.set(rt.ord, (m = new Map()))
    const t = m.get(key)
    if (t === undefined) {
      const before = op === 'insert' ? null : op === 'delete' ? vals : (oldV ?? null)
      const after = op === 'delete' ? null : vals
      m.set(key, { pk: null, pkValues, before, beforeKnown: op !== 'insert', after, recreated: false })
    } else {
      if (op === 'insert' && t.after === null) t.recreated = true
      t.after = op === 'delete' ? null : vals
    }
  }

  /**
   * Turns the captured touches into clock updates and changesets, books the new version and
   * returns it chunked. Runs inside the transaction, after the last statement.
   */
  commit(): LocalCommit {
    this.capturing = false
    const ctx = this.ctx
    const self = ctx.selfOrd
    const version = ctx.dbVersion + 1
    const ts = ctx.hlc.next()
    const changes: Change[] = []
    const rows: RowChange[] = []
    const vers = new VersGroups(self, version)
    let seq = 0
    for (const [ord, touches] of this.touches) {
      const rt = ctx.tablesByOrd.get(ord) as TableRuntime
      const table = rt.model.name
      for (const touch of touches.values()) {
        const t = touch as Touch & { pk: Uint8Array }
        t.pk ??= packPk(t.pkValues)
        // Fast path for the common insert of a brand-new row: write its clock with INSERT OR
        // IGNORE and skip the lookup; only when a clock already exists (a tombstone, or a
        // REPLACE of a live row) fall through to read-modify-write.
        if (!t.beforeKnown && t.after !== null) {
          const blob = encodeFreshRowClock(rt.model.nonPk, self, version, seq, vers.peek(seq))
          if (rt.insClock.run(t.pk, 1, blob).changes === 1) {
            vers.add(ord, t.pk, seq)
            changes.push({ table, pk: t.pk, cid: SENTINEL, val: null, colVersion: 1, cl: 1, seq: seq++ })
            const after = t.after
            for (let i = 1; i < rt.allCids.length; i++) {
              const cid = rt.allCids[i] as string
              changes.push({
                table,
                pk: t.pk,
                cid,
                val: after[i - 1] as SqlValue,
                colVersion: 1,
                cl: 1,
                seq: seq++,
              })
            }
            rows.push({ table, pk: t.pk, pkValues: t.pkValues, cids: rt.allCids, deleted: false })
            continue
          }
        }
        const existing = rt.getClock.get(t.pk)
        const clock = existing ? decodeRowClock(existing.clock) : emptyRowClock()
        const oldRefs = existing ? liveRefs(clock) : null
        const seqStart = seq
        const cids: string[] = []
        const alive = isAlive(clock.cl)
        if (t.after === null || !alive || t.recreated) {
          // Delete of a live row, or create / resurrect: a new life (causal length + 1),
          // every cell reset; a created row then writes every column at col_version 1.
          // A live row deleted and inserted again (REPLACE) goes through both: + 2.
          if (t.after === null && !alive) continue
          clock.cl += alive && t.after !== null ? 2 : 1
          clock.sentinel = { site: self, dbv: version, seq }
          clock.cols.clear()
          changes.push({
            table,
            pk: t.pk,
            cid: SENTINEL,
            val: null,
            colVersion: clock.cl,
            cl: clock.cl,
            seq: seq++,
          })
          cids.push(SENTINEL)
          const after = t.after
          if (after !== null) {
            rt.model.nonPk.forEach((c, i) => {
              clock.cols.set(c, { v: 1, site: self, dbv: version, seq })
              changes.push({
                table,
                pk: t.pk,
                cid: c,
                val: after[i] as SqlValue,
                colVersion: 1,
                cl: clock.cl,
                seq: seq++,
              })
              cids.push(c)
            })
          }
        } else {
          // An update of a live row: only cells whose value changed get a new col_version.
          rt.model.nonPk.forEach((c, i) => {
            const after = (t.after as SqlValue[])[i] as SqlValue
            if (t.beforeKnown && valuesEqual((t.before as SqlValue[])[i] as SqlValue, after)) return
            const v = (clock.cols.get(c)?.v ?? 0) + 1
            clock.cols.set(c, { v, site: self, dbv: version, seq })
            changes.push({ table, pk: t.pk, cid: c, val: after, colVersion: v, cl: clock.cl, seq: seq++ })
            cids.push(c)
          })
          if (cids.length === 0) continue
        }
        if (oldRefs !== null) retireRefs(ctx.stmts, clock, oldRefs)
        clock.refs.set(refKey(self, version), vers.add(ord, t.pk, seqStart))
        rt.putClock.run(t.pk, clock.cl, encodeRowClock(clock))
        rows.push({ table, pk: t.pk, pkValues: t.pkValues, cids, deleted: !isAlive(clock.cl) })
      }
    }
    if (changes.length === 0) return { version: null, changesets: [], rows: [], ts }
    const lastSeq = seq - 1
    vers.flush(ctx.stmts.insVers, ts, lastSeq)
    ctx.dbVersion = version
    ctx.stmts.putMeta.run('db_version', version)
    ctx.books.get(self).markComplete(version)
    ctx.books.persistHead(self, version)
    const changesets = chunkChanges(ctx.actorId, version, ts, lastSeq, changes, ctx.maxChunkBytes)
    return { version, changesets, rows, ts }
  }
}

function refuseNullKey(rt: TableRuntime, pkValues: SqlValue[]): void {
  const i = pkValues.indexOf(null)
  if (i >= 0) {
    throw new PatinaError(
      'PATINA_ERR_STATEMENT_REFUSED',
      `table "${rt.model.name}": primary key column "${rt.model.pk[i]}" cannot be NULL`,
    )
  }
}

/**
 * Refuses an integral REAL (5.0) in a key column without type affinity: SQLite holds 5 and 5.0
 * as one key, so replication identifies them as one row (`packPk`) and a replica would write
 * the key back as INTEGER 5. Columns with an affinity convert the value themselves.
 */
function refuseIntegralRealKey(rt: TableRuntime, pkValues: SqlValue[]): void {
  pkValues.forEach((v, i) => {
    if (typeof v === 'number' && Number.isSafeInteger(v) && rt.keyWithoutAffinity[i] === true) {
      throw new PatinaError(
        'PATINA_ERR_STATEMENT_REFUSED',
        `table "${rt.model.name}": primary key column "${rt.model.pk[i]}" has no type affinity and cannot hold the REAL value ${v}.0 (SQLite and replication identify it with the INTEGER ${v}, which replicas would store); write an INTEGER, or declare the column INTEGER, REAL or NUMERIC`,
      )
    }
  })
}

type TouchKey = string | number | bigint

/**
 * Map key of a touched row within one transaction. A single TEXT or numeric key is used as is
 * (no allocation on the bulk-insert path; a bigint compares by value); anything else is the
 * packed key prefixed with NUL, which no plain text key starts with.
 */
function touchKey(pkValues: SqlValue[]): TouchKey {
  if (pkValues.length === 1) {
    const v = pkValues[0]
    if (typeof v === 'bigint' || typeof v === 'number') return v
    if (typeof v === 'string' && !v.startsWith('\u0000')) return v
  }
  return '\u0000' + pkKey(packPk(pkValues))
}
