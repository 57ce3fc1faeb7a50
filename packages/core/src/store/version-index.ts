import { Packr } from 'msgpackr'
import { liveRefs, type RowClock } from '../crdt/row-clock.js'
import type { Statements } from './context.js'

/**
 * The version index (`__patina_vers`): for each version of each actor, groups of up to
 * `VERS_GROUP_ROWS` rows that version wrote, each with a count of rows still carrying one of
 * its cells. It is how sync serves "versions a..b of actor X" without a per-cell index, and
 * why a row's clock remembers (in `refs`) which groups point at it.
 */

/** Rows per version-index group. */
const VERS_GROUP_ROWS = 256
const versPackr = new Packr({ useRecords: false, moreTypes: false })

/**
 * Collects the rows one version writes into version-index groups of up to
 * VERS_GROUP_ROWS rows, keyed by the first row's seq. `add` returns the group key
 * the row's clock must reference; `flush` writes the groups.
 */
export class VersGroups {
  private groups: { seq: number; entries: unknown[] }[] = []
  constructor(
    readonly site: number,
    readonly dbv: number,
  ) {}

  /** The group key `add(…, seq)` would return. */
  peek(seq: number): number {
    const g = this.groups.at(-1)
    return g === undefined || g.entries.length >= VERS_GROUP_ROWS * 3 ? seq : g.seq
  }

  add(tbl: number, pk: Uint8Array, seq: number): number {
    let g = this.groups.at(-1)
    if (g === undefined || g.entries.length >= VERS_GROUP_ROWS * 3) {
      g = { seq, entries: [] }
      this.groups.push(g)
    }
    g.entries.push(tbl, pk, seq)
    return g.seq
  }

  flush(ins: Statements['insVers'], ts: number, lastSeq: number): void {
    for (const g of this.groups)
      ins.run(this.site, this.dbv, g.seq, ts, lastSeq, g.entries.length / 3, versPackr.pack(g.entries))
    this.groups = []
  }
}

/** Decode a version-index group's entries: [tbl, pk, seqStart] per row, in seq order. */
export function decodeVersEntries(b: Buffer): { tbl: number; pk: Buffer; seq: number }[] {
  const flat = versPackr.unpack(b) as unknown[]
  const out: { tbl: number; pk: Buffer; seq: number }[] = []
  for (let i = 0; i < flat.length; i += 3) {
    out.push({ tbl: flat[i] as number, pk: flat[i + 1] as Buffer, seq: flat[i + 2] as number })
  }
  return out
}

/**
 * Drops from `clock.refs` the groups no cell of the row references any more (`oldRefs`: the
 * row's live refs before this write), and counts the row out of each: a group no row carries
 * is deleted, so serving that version answers "cleared".
 */
export function retireRefs(
  stmts: Pick<Statements, 'decVers' | 'delVers'>,
  clock: RowClock,
  oldRefs: Set<string>,
): void {
  const live = liveRefs(clock)
  for (const k of oldRefs) {
    if (live.has(k)) continue
    const group = clock.refs.get(k)
    clock.refs.delete(k)
    if (group === undefined) continue
    const i = k.indexOf(':')
    const site = Number(k.slice(0, i))
    const dbv = Number(k.slice(i + 1))
    const left = stmts.decVers.get(site, dbv, group)
    if (left !== undefined && left.live <= 0) stmts.delVers.run(site, dbv, group)
  }
  for (const k of [...clock.refs.keys()]) if (!live.has(k)) clock.refs.delete(k)
}
