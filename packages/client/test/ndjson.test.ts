import { describe, expect, it } from 'vitest'
import { createLineSplitter, decodeNdjson, parseNotifyEvent, parseQueryEvent } from '../src/ndjson.js'
import { PatinaClientError } from '../src/errors.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield enc(p)
}

describe('line splitter', () => {
  it('splits lines across chunk boundaries, including multi-byte characters', () => {
    const s = createLineSplitter()
    const bytes = enc('{"a":"é"}\n{"b":2}\r\n{"c"')
    // split inside the two-byte é
    const cut = bytes.indexOf(0xc3) + 1
    expect(s.push(bytes.subarray(0, cut))).toEqual([])
    expect(s.push(bytes.subarray(cut))).toEqual(['{"a":"é"}', '{"b":2}'])
    expect(s.push(enc(':3}'))).toEqual([])
    expect(s.end()).toBe('{"c":3}')
    expect(s.end()).toBeNull()
  })

  it('rejects a line longer than maxLineBytes before buffering it whole', () => {
    const s = createLineSplitter({ maxLineBytes: 16 })
    expect(s.push(enc('0123456789'))).toEqual([])
    let err: unknown
    try {
      s.push(enc('0123456789'))
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(PatinaClientError)
    expect((err as PatinaClientError).code).toBe('PATINA_ERR_NDJSON')
    expect((err as PatinaClientError).message).toMatch(/maxLineBytes 16/)
  })

  it('accepts a line of exactly maxLineBytes', () => {
    const s = createLineSplitter({ maxLineBytes: 4 })
    expect(s.push(enc('abcd\nef\n'))).toEqual(['abcd', 'ef'])
  })
})

describe('event parsing', () => {
  it('parses every query event kind', () => {
    expect(parseQueryEvent('{"columns":["a","b"]}')).toEqual({ columns: ['a', 'b'] })
    expect(parseQueryEvent('{"row":[1,[1,"x",null,[1,2]]]}')).toEqual({ row: [1, [1, 'x', null, [1, 2]]] })
    expect(parseQueryEvent('{"eoq":{"time":5e-8}}')).toEqual({ eoq: { time: 5e-8 } })
    expect(parseQueryEvent('{"eoq":{"time":1,"change_id":0}}')).toEqual({ eoq: { time: 1, change_id: 0 } })
    expect(parseQueryEvent('{"change":["update",2,["smoked meat"],1]}')).toEqual({
      change: ['update', 2, ['smoked meat'], 1],
    })
    expect(parseQueryEvent('{"error":"boom"}')).toEqual({ error: 'boom' })
    expect(parseNotifyEvent('{"notify":["delete",["pk1"]]}')).toEqual({ notify: ['delete', ['pk1']] })
  })

  it('ignores objects with no known key (forward compatibility)', () => {
    expect(parseQueryEvent('{"heartbeat":1}')).toBeNull()
    expect(parseNotifyEvent('{"something":1}')).toBeNull()
  })

  it.each([
    ['not json', 'invalid JSON'],
    ['[1,2]', 'not a JSON object'],
    ['"str"', 'not a JSON object'],
    ['{"columns":[1]}', 'columns'],
    ['{"row":[1]}', 'row'],
    ['{"row":["x",[]]}', 'row'],
    ['{"change":["upsert",1,[],1]}', 'change'],
    ['{"change":["insert",1,[],1.5]}', 'change'],
    ['{"eoq":{"time":1,"change_id":"x"}}', 'change_id'],
  ])('rejects %s with PATINA_ERR_NDJSON', (line, what) => {
    let err: unknown
    try {
      parseQueryEvent(line)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(PatinaClientError)
    expect((err as PatinaClientError).code).toBe('PATINA_ERR_NDJSON')
    expect((err as PatinaClientError).message).toContain(what)
  })
})

describe('decodeNdjson', () => {
  it('yields parsed events, skips blank lines and handles a final line without newline', async () => {
    const out = []
    for await (const ev of decodeNdjson(
      chunks('{"columns":["a"]}\n\n{"row":[1,', '[7]]}\n{"eoq":{"time":0}}'),
      parseQueryEvent,
    ))
      out.push(ev)
    expect(out).toEqual([{ columns: ['a'] }, { row: [1, [7]] }, { eoq: { time: 0 } }])
  })

  it('throws a typed error on the first malformed line', async () => {
    const out: unknown[] = []
    await expect(
      (async () => {
        for await (const ev of decodeNdjson(
          chunks('{"columns":["a"]}\n{oops\n{"row":[1,[1]]}\n'),
          parseQueryEvent,
        ))
          out.push(ev)
      })(),
    ).rejects.toMatchObject({ code: 'PATINA_ERR_NDJSON' })
    expect(out).toEqual([{ columns: ['a'] }])
  })
})
