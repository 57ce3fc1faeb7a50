/**
 * The rows of a standby subscription (the view's query on another worker), held as differences
 * from the view rather than as a second copy: each standby row is either *linked* to a view row
 * whose cells are equal (two integers in typed arrays, no cells) or kept with its *own* cells
 * (the few rows where the two workers differ for a moment: one has applied a write the other has
 * not yet). Invariant, kept after every event of either side: for every row `r` the standby
 * worker has, `rows()` yields `[r, its cells]`, and nothing else. So at failover the standby
 * worker's whole state, as of its last change id, is at hand without a snapshot.
 *
 * Fed by two sides, in any interleaving: the standby stream's rows and changes
 * ({@link StandbyRows.standbyRow}), and every real difference applied to the view
 * ({@link StandbyRows.viewChanged}, with the cells before it). No I/O. Property-tested in
 * `standby-rows.test.ts` against a plain copy of the standby worker's rows.
 */
import type { ChangeType, JsonSqlValue, RowId } from '@patina/api'
import { createIntMap, type IntMap } from './int-map.js'
import { cellsEqual, type ViewDelta } from './view.js'

/** What the standby reads of the view. */
export interface ViewRows {
  get(rowid: RowId): JsonSqlValue[] | undefined
  identityOf(cells: readonly JsonSqlValue[]): string
  candidatesFor(cells: readonly JsonSqlValue[]): readonly RowId[]
}

export interface StandbyRows {
  /** A row or change of the standby stream (snapshot rows are inserts); `rowid` is the standby worker's. */
  standbyRow(type: ChangeType, rowid: RowId, cells: JsonSqlValue[]): void
  /** A difference that was just applied to the view (`previous`: the view row's cells before it). */
  viewChanged(d: ViewDelta): void
  /** The standby worker's rows, `[its rowid, cells]`; null when a link points at a row the view lacks (a bug: do not use the standby). */
  rows(): Array<[RowId, JsonSqlValue[]]> | null
  /** The same rows as links (standby rowid → view rowid, equal cells) and own rows: for `MaterializedView.adoptRows`. The standby is spent. */
  handOver(): { links: IntMap; linked: IntMap; own: Array<[RowId, JsonSqlValue[]]> }
  /** Rows the standby worker has. */
  readonly size: number
  /** Of those, rows held with their own cells (they differ from the view, or match no view row). */
  readonly differing: number
}

export function createStandbyRows(view: ViewRows): StandbyRows {
  /** standby rowid → view rowid, and back (1:1) */
  const toView = createIntMap()
  const toStandby = createIntMap()
  /** standby rowid → cells, for rows not linked */
  const own = new Map<RowId, JsonSqlValue[]>()
  /** identity → standby rowids in `own` (to link them when the view catches up) */
  const ownByIdentity = new Map<string, RowId[]>()

  const link = (r: RowId, l: RowId): void => {
    toView.set(r, l)
    toStandby.set(l, r)
  }
  const unlink = (r: RowId): void => {
    const l = toView.get(r)
    if (l === undefined) return
    toView.delete(r)
    toStandby.delete(l)
  }
  const addOwn = (r: RowId, cells: JsonSqlValue[]): void => {
    own.set(r, cells)
    const k = view.identityOf(cells)
    const l = ownByIdentity.get(k)
    if (l === undefined) ownByIdentity.set(k, [r])
    else l.push(r)
  }
  const dropOwn = (r: RowId): void => {
    const cells = own.get(r)
    if (cells === undefined) return
    own.delete(r)
    const k = view.identityOf(cells)
    const l = ownByIdentity.get(k)
    if (l === undefined) return
    const i = l.indexOf(r)
    if (i !== -1) l.splice(i, 1)
    if (l.length === 0) ownByIdentity.delete(k)
  }
  /** Links `r` to a free view row with equal cells, if there is one. */
  const tryLink = (r: RowId, cells: JsonSqlValue[]): boolean => {
    for (const l of view.candidatesFor(cells)) {
      if (toStandby.has(l)) continue
      const v = view.get(l)
      if (v !== undefined && cellsEqual(v, cells)) {
        link(r, l)
        return true
      }
    }
    return false
  }

  return {
    standbyRow(type, r, cells) {
      unlink(r)
      dropOwn(r)
      if (type === 'delete') return
      if (!tryLink(r, cells)) addOwn(r, cells)
    },
    viewChanged(d) {
      const l = d.rowid
      if (d.type !== 'insert') {
        // the standby row that matched the old cells keeps them
        const r = toStandby.get(l)
        if (r !== undefined) {
          unlink(r)
          addOwn(r, d.previous ?? d.cells)
        }
      }
      if (d.type === 'delete' || toStandby.has(l)) return
      // the view caught up with a standby row held on its own: link it
      const cands = ownByIdentity.get(view.identityOf(d.cells))
      if (cands === undefined) return
      for (const r of cands) {
        const c = own.get(r)
        if (c !== undefined && cellsEqual(c, d.cells)) {
          dropOwn(r)
          link(r, l)
          return
        }
      }
    },
    rows() {
      const out: Array<[RowId, JsonSqlValue[]]> = []
      for (const [r, l] of toView.entries()) {
        const cells = view.get(l)
        if (cells === undefined) return null
        out.push([r, cells])
      }
      for (const [r, cells] of own) out.push([r, cells])
      out.sort((a, b) => a[0] - b[0])
      return out
    },
    handOver() {
      return { links: toView, linked: toStandby, own: [...own] }
    },
    get size() {
      return toView.size + own.size
    },
    get differing() {
      return own.size
    },
  }
}
