import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { QueryEvent } from '@patina/api'
import type { HttpResponse } from '../src/http.js'
import { decodeNdjsonBatches, parseQueryEvent } from '../src/ndjson.js'
import { createSubscriptionStream } from '../src/streams.js'

/** A response whose body is `text` cut into `cuts` chunks. */
function response(text: string, cuts: number[] = []): HttpResponse & { closed: boolean } {
  const bytes = Buffer.from(text)
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const r = {
    status: 200,
    headers: { 'corro-query-id': 'sub-1' },
    url: 'http://w/v1/subscriptions',
    closed: false,
    body: {
      async *[Symbol.asyncIterator]() {
        let prev = 0
        for (const c of [...at, bytes.length]) {
          if (c > prev) yield bytes.subarray(prev, c)
          prev = c
        }
      },
    },
    text: () => Promise.resolve(text),
    json: () => Promise.resolve(JSON.parse(text) as unknown),
    close() {
      r.closed = true
    },
  }
  return r
}

const change = (cid: number): string => JSON.stringify({ change: ['update', 1, ['x', cid], cid] })
const lines = (...ls: string[]): string => ls.map((l) => `${l}\n`).join('')

async function drain<T>(it: AsyncIterable<T>): Promise<{ out: T[]; err: unknown }> {
  const out: T[] = []
  try {
    for await (const v of it) out.push(v)
  } catch (err) {
    return { out, err }
  }
  return { out, err: undefined }
}

describe('subscription stream batches', () => {
  it('yields one batch per chunk, drops replays, and tracks the last change id', async () => {
    const body = lines(
      '{"columns":["k","v"]}',
      '{"row":[1,["x",0]]}',
      '{"eoq":{"time":0,"change_id":2}}',
      change(2),
      change(3),
    )
    const s = createSubscriptionStream(response(body), 'w', 1 << 20, null)
    const { out, err } = await drain(s.batches())
    expect(err).toBeUndefined()
    expect(out).toHaveLength(1)
    expect(out[0]?.map((e) => Object.keys(e)[0])).toEqual(['columns', 'row', 'eoq', 'change'])
    expect(s.lastChangeId).toBe(3)
  })

  it('throws PATINA_ERR_MISSED_CHANGE on a gap after the batch of the events before it', async () => {
    const s = createSubscriptionStream(
      response(lines(change(5), change(6), change(8), change(9))),
      'w',
      1 << 20,
      4,
    )
    const { out, err } = await drain(s.batches())
    expect(out.flat().map((e) => ('change' in e ? e.change[3] : null))).toEqual([5, 6])
    expect(err).toMatchObject({ code: 'PATINA_ERR_MISSED_CHANGE', expected: 7, got: 8 })
  })

  it('gives the same events as the iterator, however the body is cut (property)', async () => {
    const ev = fc.oneof(
      fc.constant('{"row":[1,["é",1]]}'),
      fc.integer({ min: 1, max: 6 }).map(change),
      fc.constant(''),
      fc.constant('{"unknown":1}'),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.array(ev, { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (ls, cuts) => {
          const body = lines(...ls)
          const one = await drain(createSubscriptionStream(response(body, cuts), 'w', 1 << 20, null))
          const batched = await drain(
            createSubscriptionStream(response(body, cuts), 'w', 1 << 20, null).batches(),
          )
          expect(batched.out.every((b) => b.length > 0)).toBe(true)
          expect(batched.out.flat()).toEqual(one.out)
          expect((batched.err as { code?: string } | undefined)?.code).toBe(
            (one.err as { code?: string } | undefined)?.code,
          )
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('decodeNdjsonBatches', () => {
  it('yields the lines before a malformed one, then throws', async () => {
    const batches: QueryEvent[][] = []
    const { err } = await drain(
      (async function* () {
        for await (const b of decodeNdjsonBatches(
          response(lines('{"columns":["a"]}', '{oops', '{"row":[1,[1]]}')).body,
          parseQueryEvent,
        )) {
          batches.push(b)
          yield b
        }
      })(),
    )
    expect(batches).toEqual([[{ columns: ['a'] }]])
    expect(err).toMatchObject({ code: 'PATINA_ERR_NDJSON' })
  })
})
