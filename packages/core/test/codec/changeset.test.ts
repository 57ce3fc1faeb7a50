import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import {
  changesetFromWire,
  changesetToWire,
  decodeChangeset,
  decodeSyncState,
  encodeChangeset,
  encodeSyncState,
  packPk,
  unpackPk,
  type Change,
  type Changeset,
} from '../../src/index.js'

const actorId = '0f8e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b'
const sample: Changeset = {
  kind: 'full',
  actorId,
  version: 7,
  ts: 1_700_000_000_000_123 % 9_000_000_000_000_000,
  seqStart: 0,
  seqEnd: 3,
  lastSeq: 5,
  changes: [
    { table: 'items', pk: packPk([1n]), cid: '-1', val: null, colVersion: 1, cl: 1, seq: 0 },
    { table: 'items', pk: packPk([1n]), cid: 'name', val: 'héllo', colVersion: 1, cl: 1, seq: 1 },
    {
      table: 'items',
      pk: packPk([1n]),
      cid: 'data',
      val: Buffer.from([0, 255]),
      colVersion: 2,
      cl: 1,
      seq: 2,
    },
    { table: 'items', pk: packPk([1n]), cid: 'qty', val: 2n ** 62n, colVersion: 3, cl: 1, seq: 3 },
  ],
}

describe('changeset codec', () => {
  it('round-trips full and empty changesets', () => {
    const back = decodeChangeset(encodeChangeset(sample))
    expect(back).toEqual(sample)
    const empty: Changeset = { kind: 'empty', actorId, versions: [3, 9] }
    expect(decodeChangeset(encodeChangeset(empty))).toEqual(empty)
  })

  it('round-trips random values and keys with their storage class (INTEGER bigint, REAL number)', () => {
    const value = fc.oneof(
      fc.constant(null),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.integer().map((i) => BigInt(i)),
      fc.double({ noNaN: true }),
      fc.integer().map((i) => i * 1.0),
      fc.string(),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
    )
    // A key is one row to SQLite whether written 5 or 5.0: an integral REAL key packs as INTEGER.
    const asKey = (x: unknown) => (typeof x === 'number' && Number.isSafeInteger(x) ? BigInt(x) : x)
    const norm = (x: unknown) => (typeof x === 'number' && Object.is(x, -0) ? 0 : x)
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 4 }), value, (pkVals, v) => {
        const pk = packPk(pkVals)
        expect(unpackPk(pk)).toEqual(pkVals.map(asKey))
        const cs: Changeset = {
          ...sample,
          seqEnd: 0,
          lastSeq: 0,
          changes: [{ table: 't', pk, cid: 'c', val: v, colVersion: 1, cl: 1, seq: 0 }],
        }
        // -0 travels as 0 (msgpack has no negative zero integer); SQLite does not keep it either.
        const back = (decodeChangeset(encodeChangeset(cs)) as { changes: { val: unknown }[] }).changes[0]!.val
        expect(typeof back).toBe(typeof v)
        expect(norm(back)).toEqual(norm(v))
      }),
      { numRuns: 500 },
    )
  })

  it('keeps INTEGER 5 and REAL 5.0 apart on the wire, and 64-bit integers exact', () => {
    const one = (val: Change['val']): Changeset => ({
      ...sample,
      seqEnd: 0,
      lastSeq: 0,
      changes: [{ table: 't', pk: packPk([1n]), cid: 'c', val, colVersion: 1, cl: 1, seq: 0 }],
    })
    const back = (val: Change['val']) =>
      (decodeChangeset(encodeChangeset(one(val))) as { changes: Change[] }).changes[0]!.val
    expect(back(5n)).toBe(5n)
    expect(back(5)).toBe(5)
    expect(back(2n ** 63n - 1n)).toBe(2n ** 63n - 1n)
    expect(back(-(2n ** 63n))).toBe(-(2n ** 63n))
    expect(back(2n ** 53n + 1n)).toBe(2n ** 53n + 1n)
    expect(back(Infinity)).toBe(Infinity)
    expect(back(1e300)).toBe(1e300)
  })

  it('refuses format 1 on the wire with the reason, and reads it from the local buffer (integral numbers as INTEGER)', () => {
    const wire = changesetToWire(sample)
    wire[0] = 1
    const flat = wire[10] as unknown[]
    flat[3 * 7 + 3] = 42 // format 1 wrote every number plainly
    const bytes = new Packr({ useRecords: false }).pack(wire)
    expect(() => decodeChangeset(bytes)).toThrow(
      /format version 1 is not accepted: it cannot tell INTEGER from REAL/,
    )
    const legacy = changesetFromWire(new Packr({ useRecords: false }).unpack(bytes), {}, { legacy: true })
    expect((legacy as { changes: Change[] }).changes[3]!.val).toBe(42n)
    flat[3 * 7 + 3] = 2.5
    const frac = changesetFromWire(wire, {}, { legacy: true }) as { changes: Change[] }
    expect(frac.changes[3]!.val).toBe(2.5)
    flat[3 * 7 + 3] = 1e300
    expect((changesetFromWire(wire, {}, { legacy: true }) as { changes: Change[] }).changes[3]!.val).toBe(
      1e300,
    )
  })

  it.each([
    ['a plain non-integral number', 2.5],
    ['an integer beyond the signed 64-bit range', 2n ** 63n],
    ['a wrapped non-number', ['x']],
    ['a wrapped NaN', [NaN]],
    ['an array of two', [1, 2]],
  ])('refuses a value that is %s', (_name, bad) => {
    const wire = changesetToWire(sample)
    ;(wire[10] as unknown[])[1 * 7 + 3] = bad
    expect(() =>
      decodeChangeset(new Packr({ useRecords: false, int64AsType: 'auto' as 'bigint' }).pack(wire)),
    ).toThrow(/value of unsupported type/)
  })

  it('rejects oversized input before decoding', () => {
    expect(() => decodeChangeset(encodeChangeset(sample), { maxBytes: 10 })).toThrow(
      /above the limit of 10 bytes/,
    )
  })

  it('never crashes on random or mutated bytes: a typed error or a valid changeset', () => {
    const good = encodeChangeset(sample)
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 6 }),
        fc.nat(),
        (rand, muts, cut) => {
          const mutated = new Uint8Array(good)
          for (const [i, b] of muts) mutated[i % mutated.length] = b
          for (const bytes of [rand, mutated, good.subarray(0, cut % good.length)]) {
            try {
              const cs = decodeChangeset(bytes)
              expect(['full', 'empty']).toContain(cs.kind)
            } catch (err) {
              expect((err as { code: string }).code).toMatch(/^PATINA_ERR_CHANGESET_(INVALID|TOO_LARGE)$/)
            }
          }
        },
      ),
      { numRuns: 2000 },
    )
  })

  it.each([
    ['format version 1', (w: unknown[]) => (w[0] = 1), /format version 1 is not accepted/],
    ['wrong format version', (w: unknown[]) => (w[0] = 3), /unsupported format version 3/],
    ['bad actor', (w: unknown[]) => (w[2] = new Uint8Array(3)), /actor id must be 16 bytes/],
    ['seq out of range', (w: unknown[]) => ((w[10] as unknown[])[6] = 99), /seq 99 outside/],
    [
      'even cl on a column',
      (w: unknown[]) => ((w[10] as unknown[])[12] = 2),
      /even \(deleted\) causal length/,
    ],
    ['sentinel with a value', (w: unknown[]) => ((w[10] as unknown[])[3] = 'x'), /sentinel must have/],
    ['bad table index', (w: unknown[]) => ((w[10] as unknown[])[0] = 5), /bad table index/],
    ['reversed seq range', (w: unknown[]) => ((w[5] = 4), (w[6] = 3)), /bad seq range/],
  ])('rejects %s with a clear message', async (_name, mutate, re) => {
    const { changesetToWire } = await import('../../src/index.js')
    const { Packr } = await import('msgpackr')
    const wire = changesetToWire(sample)
    mutate(wire)
    expect(() => decodeChangeset(new Packr({ useRecords: false }).pack(wire))).toThrow(re)
  })

  it('round-trips and validates sync states', () => {
    const s = {
      actorId,
      heads: { [actorId]: 5 },
      need: { [actorId]: [[2, 3]] as [number, number][] },
      partialNeed: { [actorId]: { 4: [[0, 1]] as [number, number][] } },
    }
    expect(decodeSyncState(encodeSyncState(s))).toEqual(s)
    expect(() => decodeSyncState(encodeSyncState({ ...s, heads: { nope: 1 } }))).toThrow(/invalid sync state/)
    expect(() => decodeSyncState(new Uint8Array([0x93, 0x01]))).toThrow(
      /invalid sync state|not valid msgpack/,
    )
  })
})
