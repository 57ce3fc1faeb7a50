import type { SqlValue } from '@patina/api'
import { SENTINEL, type ActorId, type Change } from '../types.js'
import { compareCausalLength, remoteCellWins } from './merge.js'
import type { RowClock } from './row-clock.js'

/** The parts of a remote change the row decision reads. */
export type IncomingChange = Pick<Change, 'cid' | 'val' | 'colVersion' | 'cl' | 'seq'>

export interface RowMergeInput {
  /** The row's clock before the merge (causal length, sentinel, cell clocks); not modified. */
  clock: RowClock
  /** The changes of one row from one changeset, in seq order. */
  changes: readonly IncomingChange[]
  /** Who wrote the changes: site ordinal and actor id of the writer, and its version. */
  origin: { site: number; actorId: ActorId; dbv: number }
  /**
   * The current local value of a cell. Called only when a change must be compared by value
   * with a cell that has a clock and was not already won in this merge, so the caller can read
   * the row lazily, at most once.
   */
  localValue(cid: string): SqlValue
  /** The actor id of a site ordinal, for the final tie-break between equal writes. */
  actorOf(site: number): ActorId
}

export interface RowMergeResult {
  /** The row's clock after the merge (a new object; `refs` copied, left for the caller to update). */
  clock: RowClock
  /** The cells to write, with their winning values. */
  winners: Map<string, SqlValue>
  /**
   * True when a change moved the row to a newer life (larger causal length): every cell of the
   * old life is gone, so the row is rewritten from `winners` alone (or deleted, if `clock.cl`
   * is even).
   */
  reset: boolean
  /** Changes that won (taken), and changes that lost or were already known (no-ops). */
  won: number
  ignored: number
  /** The smallest seq among the winning changes (Infinity when none won). */
  minSeq: number
}

/**
 * The merge of one row (cr-sqlite's causal-length rules, see docs/architecture.md):
 *
 * - a change with a smaller causal length than the row's is stale and ignored;
 * - a larger causal length starts a new life: the row takes it, every cell clock is cleared
 *   (`reset`), and the change's own cell (if not the sentinel) is then merged into the empty
 *   life. A column change can reveal a newer life before its sentinel arrives; the sentinel's
 *   origin stays unknown (site 0) until the sentinel itself comes;
 * - a sentinel at the row's causal length only fills in an unknown sentinel origin;
 * - a cell change at the row's causal length wins by `remoteCellWins`: larger col_version,
 *   then larger value, then larger actor id; a cell without a clock is always taken.
 *
 * Pure: the caller reads the clock and the row and writes the outcome.
 */
export function mergeRow(input: RowMergeInput): RowMergeResult {
  const { origin } = input
  const clock: RowClock = {
    cl: input.clock.cl,
    sentinel: input.clock.sentinel,
    cols: new Map(input.clock.cols),
    refs: new Map(input.clock.refs),
  }
  const winners = new Map<string, SqlValue>()
  let reset = false
  let won = 0
  let ignored = 0
  let minSeq = Infinity
  for (const c of input.changes) {
    const life = compareCausalLength(clock.cl, c.cl)
    if (life === 'stale') {
      ignored++
      continue
    }
    if (life === 'newer') {
      clock.cl = c.cl
      clock.sentinel =
        c.cid === SENTINEL ? { site: origin.site, dbv: origin.dbv, seq: c.seq } : { site: 0, dbv: 0, seq: 0 }
      clock.cols.clear()
      winners.clear()
      reset = true
      won++
      minSeq = Math.min(minSeq, c.seq)
      if (c.cid === SENTINEL) continue
    } else if (c.cid === SENTINEL) {
      if (clock.sentinel.site === 0) {
        clock.sentinel = { site: origin.site, dbv: origin.dbv, seq: c.seq }
        won++
        minSeq = Math.min(minSeq, c.seq)
      } else ignored++
      continue
    }
    const local = clock.cols.get(c.cid)
    let localVal: SqlValue = null
    if (local !== undefined) {
      localVal = winners.has(c.cid) ? (winners.get(c.cid) as SqlValue) : input.localValue(c.cid)
    }
    const wins = remoteCellWins(
      local === undefined
        ? undefined
        : { colVersion: local.v, value: localVal, site: input.actorOf(local.site) },
      { colVersion: c.colVersion, value: c.val, site: origin.actorId },
    )
    if (!wins) {
      ignored++
      continue
    }
    clock.cols.set(c.cid, { v: c.colVersion, site: origin.site, dbv: origin.dbv, seq: c.seq })
    winners.set(c.cid, c.val)
    won++
    minSeq = Math.min(minSeq, c.seq)
  }
  return { clock, winners, reset, won, ignored, minSeq }
}
