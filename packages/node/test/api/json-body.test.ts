import { PatinaError } from '@patina/api'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MAX_JSON_DEPTH, parseJsonBody, stringifyJson } from '../../src/api/json-body.js'
import { realJson } from '../../src/api/json.js'
import { parseParam } from '../../src/api/statements.js'

/** What `JSON.parse` gives once integer literals are known: every integral number as a bigint. */
function asParsed(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) && !Object.is(v, -0) ? BigInt(v) : v
  if (Array.isArray(v)) return v.map(asParsed)
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asParsed(x)]))
  return v
}

/** Equal as values, with numbers of either kind compared by value (JSON.parse collapses them). */
function sameValue(a: unknown, b: unknown): boolean {
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint'))
    return Number(a) === Number(b) || (Number.isNaN(Number(a)) && Number.isNaN(Number(b)))
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]))
  if (a !== null && typeof a === 'object') {
    if (b === null || typeof b !== 'object' || Array.isArray(b)) return false
    const ka = Object.keys(a)
    const kb = Object.keys(b)
    return (
      ka.length === kb.length &&
      ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    )
  }
  return Object.is(a, b) || a === b
}

describe('parseJsonBody: numbers keep what the literal says', () => {
  it.each([
    ['5', 5n],
    ['-0', 0n],
    ['5.0', 5],
    ['1e3', 1000],
    ['2.5', 2.5],
    ['9007199254740993', 9007199254740993n],
    ['9223372036854775807', 9223372036854775807n],
    ['-9223372036854775808', -9223372036854775808n],
    // Beyond the signed 64-bit range an integer is an f64, as Corrosion's SqliteParam falls back.
    ['9223372036854775808', 2 ** 63],
    ['-9223372036854775809', -(2 ** 63)],
  ])('%s → %o', (text, want) => {
    expect(parseJsonBody(text)).toStrictEqual(want)
  })

  it('parses structures, escapes and unicode as JSON.parse', () => {
    const text = '{"a":[1,"x\\n\\u00e9\\ud83d\\ude00\\"",true,false,null,{}],"b":[],"__proto__":{"c":1}}'
    const v = parseJsonBody(text) as Record<string, unknown>
    expect(v['a']).toEqual([1n, 'x\né😀"', true, false, null, {}])
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype)
    expect(Object.keys(v)).toEqual(['a', 'b', '__proto__'])
  })

  it('agrees with JSON.parse on any JSON value (integers as bigint)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = JSON.stringify(v)
        expect(sameValue(parseJsonBody(text), asParsed(JSON.parse(text)))).toBe(true)
      }),
      { numRuns: 500 },
    )
  })

  it('accepts exactly what JSON.parse accepts, and refuses the rest with PATINA_ERR_BODY_INVALID', () => {
    const jsonish = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc
        .tuple(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.nat(),
          fc.constantFrom('', ',', ']', '}', '"', '\\', '0', '-', '.', 'e', ' ', '\u0001'),
        )
        .map(([t, at, ins]) => t.slice(0, at % (t.length + 1)) + ins + t.slice(at % (t.length + 1))),
    )
    fc.assert(
      fc.property(jsonish, (text) => {
        let native: unknown
        let nativeOk = true
        try {
          native = JSON.parse(text)
        } catch {
          nativeOk = false
        }
        if (nativeOk) {
          expect(sameValue(parseJsonBody(text), native)).toBe(true)
        } else {
          expect(() => parseJsonBody(text)).toThrow(PatinaError)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('refuses nesting deeper than the limit before building it, without exhausting the stack', () => {
    const deep = '['.repeat(50_000) + ']'.repeat(50_000)
    let err: unknown
    try {
      parseJsonBody(deep)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(PatinaError)
    expect((err as PatinaError).code).toBe('PATINA_ERR_BODY_INVALID')
    expect((err as PatinaError).message).toMatch(/deeper than 128 levels/)
    const objects = '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000)
    expect(() => parseJsonBody(objects)).toThrow(/deeper than 128 levels/)
    const ok = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH)
    expect(() => parseJsonBody(ok)).not.toThrow()
    expect(() => parseJsonBody('[' + ok + ']')).toThrow(/deeper than 128/)
  })

  it('names what is wrong and where', () => {
    expect(() => parseJsonBody('[1,]')).toThrow(/unexpected character "]" at offset 3/)
    expect(() => parseJsonBody('{"a" 1}')).toThrow(/expected ':'/)
    expect(() => parseJsonBody('"abc')).toThrow(/unterminated string/)
    expect(() => parseJsonBody('[1] x')).toThrow(/after the end of the value/)
    expect(() => parseJsonBody('01')).toThrow(/offset 1/)
    expect(() => parseJsonBody('"\\x"')).toThrow(/bad escape/)
  })
})

describe('realJson and stringifyJson write numbers as serde_json does', () => {
  it.each([
    [2, '2.0'],
    [-3, '-3.0'],
    [-0, '-0.0'],
    [2.5, '2.5'],
    [1e15, '1000000000000000.0'],
    [1e16, '1e+16'],
    [1e21, '1e+21'],
    [1.5e-7, '1.5e-7'],
    [Number.NaN, 'null'],
    [Number.POSITIVE_INFINITY, 'null'],
  ])('realJson(%d) = %s', (v, want) => {
    expect(realJson(v)).toBe(want)
    if (want !== 'null') expect(JSON.parse(want)).toBe(v)
  })

  it('round-trips through parseJsonBody keeping integers and reals apart', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const parsed = parseJsonBody(JSON.stringify(v))
        expect(parseJsonBody(stringifyJson(parsed))).toStrictEqual(parsed)
      }),
      { numRuns: 300 },
    )
  })
})

describe('parseParam binds as Corrosion does', () => {
  it.each([
    ['null', null],
    ['true', 1n],
    ['false', 0n],
    ['42', 42n],
    ['9223372036854775807', 9223372036854775807n],
    ['42.0', 42],
    ['1e2', 100],
    ['"42"', '42'],
    ['[1, 255]', new Uint8Array([1, 255])],
    ['[]', new Uint8Array([])],
    ['[1, 256]', '[1,256]'],
    ['[1.0, 2]', '[1.0,2]'],
    ['{"b": 2.0, "a": [1]}', '{"b":2.0,"a":[1]}'],
  ])('%s → %o', (text, want) => {
    expect(parseParam(parseJsonBody(text))).toStrictEqual(want)
  })
})
