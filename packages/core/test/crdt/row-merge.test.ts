import type { SqlValue } from '@patina/api'
import { describe, expect, it } from 'vitest'
import type { RowClock } from '../../src/crdt/row-clock.js'
import { mergeRow, type IncomingChange } from '../../src/crdt/row-merge.js'
import { SENTINEL } from '../../src/index.js'

/** Site ordinals and their actor ids: the site tie-break compares the ids (a < b < c). */
const ACTORS: Record<number, string> = { 1: 'actor-a', 2: 'actor-b', 3: 'actor-c' }
/** Every case merges changes written by site 2 (actor-b) in its version 7. */
const ORIGIN = { site: 2, actorId: 'actor-b', dbv: 7 }

/** A row clock: causal length, cell clocks as `cid: [col_version, site]`, sentinel origin site. */
function clock(
  cl: number,
  cols: Record<string, [number, number]> = {},
  sentinelSite = cl === 0 ? 0 : 1,
): RowClock {
  return {
    cl,
    sentinel: { site: sentinelSite, dbv: sentinelSite === 0 ? 0 : 1, seq: 0 },
    cols: new Map(Object.entries(cols).map(([cid, [v, site]]) => [cid, { v, site, dbv: 1, seq: 1 }])),
    refs: new Map([['1:1', 0]]),
  }
}

const S = SENTINEL
const ch = (cid: string, cl: number, colVersion: number, val: SqlValue, seq: number): IncomingChange => ({
  cid,
  cl,
  colVersion,
  val,
  seq,
})

interface Case {
  name: string
  clock: RowClock
  /** Current local values of the row's cells. */
  local?: Record<string, SqlValue>
  changes: IncomingChange[]
  want: {
    cl: number
    /** Sentinel origin site after the merge (0: unknown). */
    sentinelSite: number
    /** Cell clocks after the merge, `cid: [col_version, site]`. */
    cols: Record<string, [number, number]>
    winners: Record<string, SqlValue>
    reset: boolean
    won: number
    ignored: number
    minSeq: number
    /** Cells whose local value the merge had to read. */
    reads: string[]
  }
}

// prettier-ignore
const cases: Case[] = [
  // Causal length: liveness and lives.
  { name: 'creates an unseen row: the sentinel and every cell win',
    clock: clock(0), changes: [ch(S, 1, 1, null, 0), ch('name', 1, 1, 'x', 1), ch('qty', 1, 1, 5, 2)],
    want: { cl: 1, sentinelSite: 2, cols: { name: [1, 2], qty: [1, 2] }, winners: { name: 'x', qty: 5 }, reset: true, won: 3, ignored: 0, minSeq: 0, reads: [] } },
  { name: 'ignores a change of an older life (stale causal length)',
    clock: clock(3, { name: [1, 1] }), local: { name: 'now' }, changes: [ch('name', 1, 5, 'old', 4)],
    want: { cl: 3, sentinelSite: 1, cols: { name: [1, 1] }, winners: {}, reset: false, won: 0, ignored: 1, minSeq: Infinity, reads: [] } },
  { name: 'a delete (larger, even causal length) ends the life and clears every cell clock',
    clock: clock(1, { name: [9, 1], qty: [1, 3] }), local: { name: 'n', qty: 1 }, changes: [ch(S, 2, 2, null, 0)],
    want: { cl: 2, sentinelSite: 2, cols: {}, winners: {}, reset: true, won: 1, ignored: 0, minSeq: 0, reads: [] } },
  { name: 'an update of the old life loses to a delete, whatever its col_version',
    clock: clock(2), changes: [ch('name', 1, 9, 'late', 3)],
    want: { cl: 2, sentinelSite: 1, cols: {}, winners: {}, reset: false, won: 0, ignored: 1, minSeq: Infinity, reads: [] } },
  { name: 'resurrection: a larger odd causal length starts a new life with the incoming cells only',
    clock: clock(2), changes: [ch(S, 3, 3, null, 0), ch('name', 3, 1, 'back', 1)],
    want: { cl: 3, sentinelSite: 2, cols: { name: [1, 2] }, winners: { name: 'back' }, reset: true, won: 2, ignored: 0, minSeq: 0, reads: [] } },
  { name: 'a cell of a newer life before its sentinel resets the row; the sentinel origin stays unknown',
    // `won` counts the new life and the cell, as the store has always reported in `applied`.
    clock: clock(1, { name: [4, 1], qty: [1, 1] }), local: { name: 'n', qty: 1 }, changes: [ch('name', 3, 1, 'new', 4)],
    want: { cl: 3, sentinelSite: 0, cols: { name: [1, 2] }, winners: { name: 'new' }, reset: true, won: 2, ignored: 0, minSeq: 4, reads: [] } },
  { name: 'the late sentinel of the current life fills in its unknown origin',
    clock: clock(3, { name: [1, 2] }, 0), local: { name: 'new' }, changes: [ch(S, 3, 3, null, 0)],
    want: { cl: 3, sentinelSite: 2, cols: { name: [1, 2] }, winners: {}, reset: false, won: 1, ignored: 0, minSeq: 0, reads: [] } },
  { name: 'a sentinel of the current life with a known origin is a no-op',
    clock: clock(1, { name: [1, 1] }), local: { name: 'x' }, changes: [ch(S, 1, 1, null, 0)],
    want: { cl: 1, sentinelSite: 1, cols: { name: [1, 1] }, winners: {}, reset: false, won: 0, ignored: 1, minSeq: Infinity, reads: [] } },
  // Cells within one life: col_version, then value, then actor id.
  { name: 'a larger col_version wins whatever the values',
    clock: clock(1, { name: [2, 3] }), local: { name: 'zzz' }, changes: [ch('name', 1, 3, 'aaa', 5)],
    want: { cl: 1, sentinelSite: 1, cols: { name: [3, 2] }, winners: { name: 'aaa' }, reset: false, won: 1, ignored: 0, minSeq: 5, reads: ['name'] } },
  { name: 'a smaller col_version loses whatever the values',
    clock: clock(1, { name: [3, 1] }), local: { name: 'aaa' }, changes: [ch('name', 1, 2, 'zzz', 5)],
    want: { cl: 1, sentinelSite: 1, cols: { name: [3, 1] }, winners: {}, reset: false, won: 0, ignored: 1, minSeq: Infinity, reads: ['name'] } },
  { name: 'equal col_version: the larger value wins',
    clock: clock(1, { name: [2, 3] }), local: { name: 'abc' }, changes: [ch('name', 1, 2, 'abd', 5)],
    want: { cl: 1, sentinelSite: 1, cols: { name: [2, 2] }, winners: { name: 'abd' }, reset: false, won: 1, ignored: 0, minSeq: 5, reads: ['name'] } },
  { name: 'equal col_version: the smaller value loses, even from a larger actor id',
    clock: clock(1, { name: [2, 1] }), local: { name: 'abd' }, changes: [ch('name', 1, 2, 'abc', 5)],
    want: { cl: 1, sentinelSite: 1, cols: { name: [2, 1] }, winners: {}, reset: false, won: 0, ignored: 1, minSeq: Infinity, reads: ['name'] } },
  { name: 'equal col_version: values order NULL < numbers < text < blob',
    clock: clock(1, { name: [1, 3], qty: [1, 3], data: [1, 3] }), local: { name: null, qty: 'text', data: Buffer.from([0]) },
    changes: [ch('name', 1, 1, -5, 1), ch('qty', 1, 1, 10n ** 20n, 2), ch('data', 1, 1, 'text', 3)],
    want: { cl: 1, sentinelSite: 1, cols: { name: [1, 2], qty: [1, 3], data: [1, 3] }, winners: { name: -5 }, reset: false, won: 1, ignored: 2, minSeq: 1, reads: ['name', 'qty', 'data'] } },
  { name: 'equal col_version and value: the larger actor id wins',
    clock: clock(1, { name: [2, 1] }), local: { name: 'same' }, changes: [ch('name', 1, 2, 'same', 5)],
    want: { cl: 1, sentinelSite: 1, cols: { name: [2, 2] }, winners: { name: 'same' }, reset: false, won: 1, ignored: 0, minSeq: 5, reads: ['name'] } },
  { name: 'equal col_version and value: a smaller actor id loses',
    clock: clock(1, { name: [2, 3] }), local: { name: 'same' }, changes: [ch('name', 1, 2, 'same', 5)],
    want: { cl: 1, sentinelSite: 1, cols: { name: [2, 3] }, winners: {}, reset: false, won: 0, ignored: 1, minSeq: Infinity, reads: ['name'] } },
  { name: 'the same write again is a no-op (idempotence)',
    clock: clock(1, { name: [2, 2] }), local: { name: 'same' }, changes: [ch('name', 1, 2, 'same', 5)],
    want: { cl: 1, sentinelSite: 1, cols: { name: [2, 2] }, winners: {}, reset: false, won: 0, ignored: 1, minSeq: Infinity, reads: ['name'] } },
  { name: 'a cell without a clock (never written, or added later) is taken without reading the row',
    clock: clock(1, { name: [1, 1] }), local: { name: 'x' }, changes: [ch('qty', 1, 1, 7, 2)],
    want: { cl: 1, sentinelSite: 1, cols: { name: [1, 1], qty: [1, 2] }, winners: { qty: 7 }, reset: false, won: 1, ignored: 0, minSeq: 2, reads: [] } },
  { name: 'a second change of a cell compares with the value just won, not the stored one',
    clock: clock(1, { name: [1, 1] }), local: { name: 'm' }, changes: [ch('name', 1, 2, 'a', 1), ch('name', 1, 2, 'b', 2)],
    want: { cl: 1, sentinelSite: 1, cols: { name: [2, 2] }, winners: { name: 'b' }, reset: false, won: 2, ignored: 0, minSeq: 1, reads: ['name'] } },
  { name: 'reports the smallest seq among the winners only',
    clock: clock(1, { name: [5, 1], qty: [1, 1] }), local: { name: 'n', qty: 1 }, changes: [ch('name', 1, 2, 'x', 3), ch('qty', 1, 2, 2, 4)],
    want: { cl: 1, sentinelSite: 1, cols: { name: [5, 1], qty: [2, 2] }, winners: { qty: 2 }, reset: false, won: 1, ignored: 1, minSeq: 4, reads: ['name', 'qty'] } },
]

describe('mergeRow (the row decision)', () => {
  it.each(cases)('$name', (c) => {
    const reads: string[] = []
    const r = mergeRow({
      clock: c.clock,
      changes: c.changes,
      origin: ORIGIN,
      localValue: (cid) => {
        reads.push(cid)
        return c.local?.[cid] ?? null
      },
      actorOf: (site) => ACTORS[site] ?? '',
    })
    expect({
      cl: r.clock.cl,
      sentinelSite: r.clock.sentinel.site,
      cols: Object.fromEntries([...r.clock.cols].map(([cid, x]) => [cid, [x.v, x.site]])),
      winners: Object.fromEntries(r.winners),
      reset: r.reset,
      won: r.won,
      ignored: r.ignored,
      minSeq: r.minSeq,
      reads,
    }).toEqual(c.want)
    // A cell the merge takes records who wrote it, in which version, at which seq.
    for (const [cid, x] of r.clock.cols) {
      if (cid in c.want.winners) expect(x).toMatchObject({ site: ORIGIN.site, dbv: ORIGIN.dbv })
    }
  })

  it('records the origin version and seq of a new sentinel', () => {
    const r = mergeRow({
      clock: clock(0),
      changes: [ch(S, 1, 1, null, 6)],
      origin: ORIGIN,
      localValue: () => null,
      actorOf: () => '',
    })
    expect(r.clock.sentinel).toEqual({ site: 2, dbv: 7, seq: 6 })
  })

  it('leaves the input clock as it was', () => {
    const before = clock(1, { name: [1, 1] })
    const copy = structuredClone(before)
    mergeRow({
      clock: before,
      changes: [ch('name', 1, 2, 'x', 1), ch(S, 3, 3, null, 2), ch('qty', 3, 1, 1, 3)],
      origin: ORIGIN,
      localValue: () => 'y',
      actorOf: (s) => ACTORS[s] ?? '',
    })
    expect(before).toEqual(copy)
  })
})
