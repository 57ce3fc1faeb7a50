import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeRowClock,
  emptyRowClock,
  encodeFreshRowClock,
  encodeRowClock,
  liveRefs,
  refKey,
  type RowClock,
} from '../../src/crdt/row-clock.js'

const clock = (): RowClock => ({
  cl: 3,
  sentinel: { site: 2, dbv: 9, seq: 0 },
  cols: new Map([
    ['name', { v: 4, site: 1, dbv: 7, seq: 3 }],
    ['qty', { v: 1, site: 2, dbv: 9, seq: 1 }],
  ]),
  refs: new Map([
    [refKey(2, 9), 0],
    [refKey(1, 7), 2],
    [refKey(1, 5), 0],
  ]),
})

describe('row clock codec', () => {
  it('round-trips a clock', () => {
    expect(decodeRowClock(encodeRowClock(clock()))).toEqual(clock())
    expect(decodeRowClock(encodeRowClock(emptyRowClock()))).toEqual(emptyRowClock())
  })

  it('round-trips any clock (property)', () => {
    const nat = fc.nat({ max: 2 ** 40 })
    const cell = fc.record({ v: nat, site: nat, dbv: nat, seq: nat })
    const arb = fc.record({
      cl: nat,
      sentinel: fc.record({ site: nat, dbv: nat, seq: nat }),
      cols: fc.array(fc.tuple(fc.string(), cell)).map((e) => new Map(e)),
      refs: fc.array(fc.tuple(nat, nat, nat)).map((e) => new Map(e.map(([s, d, q]) => [refKey(s, d), q]))),
    })
    fc.assert(
      fc.property(arb, (c) => {
        expect(decodeRowClock(encodeRowClock(c))).toEqual(c)
      }),
    )
  })

  it('encodes a fresh row byte-identically to the general encoder (the bulk-insert fast path)', () => {
    const nonPk = ['name', 'qty', 'data']
    const fresh: RowClock = {
      cl: 1,
      sentinel: { site: 4, dbv: 12, seq: 30 },
      cols: new Map(nonPk.map((c, i) => [c, { v: 1, site: 4, dbv: 12, seq: 31 + i }])),
      refs: new Map([[refKey(4, 12), 25]]),
    }
    expect(Buffer.from(encodeFreshRowClock(nonPk, 4, 12, 30, 25))).toEqual(Buffer.from(encodeRowClock(fresh)))
    expect(Buffer.from(encodeFreshRowClock([], 1, 1, 0, 0))).toEqual(
      Buffer.from(
        encodeRowClock({
          cl: 1,
          sentinel: { site: 1, dbv: 1, seq: 0 },
          cols: new Map(),
          refs: new Map([['1:1', 0]]),
        }),
      ),
    )
  })

  it('lists as live the writes still referenced by the sentinel or a cell', () => {
    expect(liveRefs(clock())).toEqual(new Set(['2:9', '1:7']))
    // An unknown sentinel origin (site 0) references nothing.
    expect(liveRefs({ ...clock(), sentinel: { site: 0, dbv: 0, seq: 0 }, cols: new Map() })).toEqual(
      new Set(),
    )
  })
})
