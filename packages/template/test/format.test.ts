import { describe, expect, it } from 'vitest'
import {
  compareSqlValues,
  csvField,
  haproxyString,
  nginxString,
  toCsv,
  toJson,
  toText,
  TemplateValueError,
} from '../src/format.js'
import { buildResult } from '../src/result.js'

describe('nginxString', () => {
  it.each([
    ['10.0.0.1:8080', '"10.0.0.1:8080"'],
    ['a "quoted" word', '"a \\"quoted\\" word"'],
    ['back\\slash', '"back\\\\slash"'],
    ['two\nlines\tand\r', '"two\\nlines\\tand\\r"'],
    [42, '"42"'],
    ['', '""'],
  ])('%j → %s', (v, want) => expect(nginxString(v)).toBe(want))

  it.each([
    ['cost $5', /holds "\$"/],
    ['nul\0byte', /NUL byte/],
    [null, /the value is null/],
    [[1, 2], /not text or a number/],
  ])('refuses %j', (v, msg) => {
    expect(() => nginxString(v)).toThrow(TemplateValueError)
    expect(() => nginxString(v)).toThrow(msg)
  })
})

describe('haproxyString', () => {
  it.each([
    ['be_app', '"be_app"'],
    ['say "hi"', '"say \\"hi\\""'],
    ['$HOME and \\', '"\\$HOME and \\\\"'],
    ['# not a comment', '"# not a comment"'],
  ])('%j → %s', (v, want) => expect(haproxyString(v)).toBe(want))

  it.each([['two\nlines'], ['cr\r'], ['nul\0']])('refuses %j (a config line cannot hold it)', (v) =>
    expect(() => haproxyString(v)).toThrow(/line break or NUL/),
  )
})

describe('toText, toJson, CSV', () => {
  it.each([
    [null, ''],
    [undefined, ''],
    ['x', 'x'],
    [1.5, '1.5'],
    [[1, 2], '[1,2]'],
    [{ a: 1 }, '{"a":1}'],
  ])('toText(%j) = %j', (v, want) => expect(toText(v)).toBe(want))

  it('toJson: compact, pretty, bigint as number', () => {
    expect(toJson({ a: [1, null] })).toBe('{"a":[1,null]}')
    expect(toJson({ a: 1 }, true)).toBe('{\n  "a": 1\n}')
    expect(toJson(10n)).toBe('10')
    expect(toJson(undefined)).toBe('null')
  })

  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "x"', '"say ""x"""'],
    ['two\nlines', '"two\nlines"'],
    [null, ''],
    [3, '3'],
  ])('csvField(%j) = %j', (v, want) => expect(csvField(v)).toBe(want))

  it('toCsv: header then rows, CRLF', () => {
    expect(
      toCsv(
        ['host', 'backend'],
        [
          ['a', 'x,y'],
          ['b', null],
        ],
      ),
    ).toBe('host,backend\r\na,"x,y"\r\nb,\r\n')
  })
})

describe('compareSqlValues (SQLite ORDER BY)', () => {
  it.each([
    [null, 1, -1],
    [1, 'a', -1],
    ['a', [0], -1],
    [2, 10, -1],
    ['10', '9', -1], // text compares bytes
    ['B', 'a', -1], // BINARY collation: uppercase first
    ['é', 'z', 1], // UTF-8 bytes, not UTF-16 code units
    [[1, 2], [1, 3], -1],
    [5, 5, 0],
  ])('%j vs %j → %i', (a, b, sign) => {
    expect(Math.sign(compareSqlValues(a, b))).toBe(sign)
    expect(Math.sign(compareSqlValues(b, a))).toBe(-sign || 0)
  })
})

describe('buildResult', () => {
  it('sorts rows by their cells left to right, exposes columns, cells, toJson and toCsv', () => {
    const r = buildResult(
      ['host', 'port'],
      [
        ['b', 2],
        ['a', 9],
        ['a', 1],
      ],
    )
    expect(r.map((x) => `${x['host']}:${x['port']}`)).toEqual(['a:1', 'a:9', 'b:2'])
    expect(r.columns).toEqual(['host', 'port'])
    expect(r.cells[0]).toEqual(['a', 1])
    expect(r.length).toBe(3)
    expect(JSON.parse(r.toJson())).toEqual([
      { host: 'a', port: 1 },
      { host: 'a', port: 9 },
      { host: 'b', port: 2 },
    ])
    expect(r.toCsv()).toBe('host,port\r\na,1\r\na,9\r\nb,2\r\n')
    expect(Object.keys(r)).toEqual(['0', '1', '2']) // helpers are not enumerable
  })
})
