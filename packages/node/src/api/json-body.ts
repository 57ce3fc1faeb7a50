/**
 * The one JSON parser of the HTTP API's request bodies.
 *
 * `JSON.parse` cannot serve Corrosion's parameter typing: it turns `5` and `5.0` into the same
 * number and rounds integers beyond 2^53. Corrosion (serde_json) keeps them apart: an integer
 * literal is an `i64` bound as SQLite INTEGER, anything with a fraction or an exponent is an
 * `f64` bound as REAL. So this parser returns
 *
 * - integer literals (no `.`, no exponent) within the signed 64-bit range as `bigint`;
 * - integer literals beyond that range, and every literal with a fraction or exponent, as
 *   `number` (Corrosion: an `i64` that does not fit falls back to `f64`);
 * - strings, booleans, null, arrays and objects as `JSON.parse` does.
 *
 * It is iterative, so no input can exhaust the call stack, and it refuses nesting deeper than
 * {@link MAX_JSON_DEPTH} (serde_json's own recursion limit) before building anything below it.
 * The body's size is bounded before this runs (`api.limits.body_max_bytes`).
 */
import { PatinaError } from '@patina/api'
import { realJson } from './json.js'

/** Deepest nesting of arrays and objects a request body may have (serde_json's limit). */
export const MAX_JSON_DEPTH = 128

const I64_MIN = -(2n ** 63n)
const I64_MAX = 2n ** 63n - 1n

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y
// A run of string characters that need no attention: anything but a quote, a backslash or a
// control character (which JSON requires to be escaped).
// eslint-disable-next-line no-control-regex
const STRING_RUN = /[^"\\\u0000-\u001f]*/y
const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
}

type Container =
  { arr: unknown[]; obj?: undefined } | { arr?: undefined; obj: Record<string, unknown>; key: string }

function invalid(message: string): PatinaError {
  return new PatinaError('PATINA_ERR_BODY_INVALID', `request body is not valid JSON: ${message}`)
}

function describeAt(text: string, i: number): string {
  if (i >= text.length) return 'unexpected end of input'
  return `unexpected character ${JSON.stringify(text.charAt(i))} at offset ${i}`
}

/** Parses a JSON request body; see the module comment for how numbers come back. */
export function parseJsonBody(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  const n = text.length
  let i = 0
  const stack: Container[] = []

  const skipWs = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++
      else break
    }
  }

  const readString = (): string => {
    // text[i] is the opening quote
    i++
    let out = ''
    for (;;) {
      STRING_RUN.lastIndex = i
      STRING_RUN.exec(text)
      const end = STRING_RUN.lastIndex
      if (end > i) out += text.slice(i, end)
      i = end
      if (i >= n) throw invalid('unterminated string')
      const c = text.charAt(i)
      if (c === '"') {
        i++
        return out
      }
      if (c !== '\\')
        throw invalid(
          `control character U+${text.charCodeAt(i).toString(16).padStart(4, '0')} in a string at offset ${i}`,
        )
      const e = text.charAt(i + 1)
      if (e === 'u') {
        const hex = text.slice(i + 2, i + 6)
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw invalid(`bad \\u escape at offset ${i}`)
        out += String.fromCharCode(parseInt(hex, 16))
        i += 6
      } else {
        const r = ESCAPES[e]
        if (r === undefined) throw invalid(`bad escape ${JSON.stringify('\\' + e)} at offset ${i}`)
        out += r
        i += 2
      }
    }
  }

  const readNumber = (): bigint | number => {
    NUMBER.lastIndex = i
    const m = NUMBER.exec(text)
    if (m === null) throw invalid(describeAt(text, i))
    const s = m[0]
    i += s.length
    if (m[1] === undefined && m[2] === undefined) {
      const b = BigInt(s)
      if (b >= I64_MIN && b <= I64_MAX) return b
    }
    return Number(s)
  }

  const literal = (word: string, value: unknown): unknown => {
    if (text.startsWith(word, i)) {
      i += word.length
      return value
    }
    throw invalid(describeAt(text, i))
  }

  const open = (c: Container): void => {
    if (stack.length >= maxDepth) {
      throw new PatinaError(
        'PATINA_ERR_BODY_INVALID',
        `request body nests arrays and objects deeper than ${maxDepth} levels (at offset ${i})`,
      )
    }
    stack.push(c)
  }

  /** Reads `"key":` of an object member into the top container. */
  const readKey = (top: { obj: Record<string, unknown>; key: string }): void => {
    skipWs()
    if (text.charAt(i) !== '"') throw invalid(`expected a string key, ${describeAt(text, i)}`)
    top.key = readString()
    skipWs()
    if (text.charAt(i) !== ':') throw invalid(`expected ':', ${describeAt(text, i)}`)
    i++
  }

  for (;;) {
    // Read one value (or open a container and loop to read its first member).
    skipWs()
    let value: unknown
    const c = text.charAt(i)
    if (c === '[') {
      i++
      open({ arr: [] })
      skipWs()
      if (text.charAt(i) !== ']') continue
      i++
      value = (stack.pop() as { arr: unknown[] }).arr
    } else if (c === '{') {
      i++
      const top = { obj: {} as Record<string, unknown>, key: '' }
      open(top)
      skipWs()
      if (text.charAt(i) !== '}') {
        readKey(top)
        continue
      }
      i++
      value = (stack.pop() as { obj: Record<string, unknown> }).obj
    } else if (c === '"') value = readString()
    else if (c === '-' || (c >= '0' && c <= '9')) value = readNumber()
    else if (c === 't') value = literal('true', true)
    else if (c === 'f') value = literal('false', false)
    else if (c === 'n') value = literal('null', null)
    else throw invalid(describeAt(text, i))

    // Attach the value, then close every container that ends here.
    for (;;) {
      const top = stack[stack.length - 1]
      if (top === undefined) {
        skipWs()
        if (i < n) throw invalid(`${describeAt(text, i)} after the end of the value`)
        return value
      }
      if (top.arr !== undefined) top.arr.push(value)
      else if (top.key === '__proto__') {
        Object.defineProperty(top.obj, '__proto__', {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        })
      } else top.obj[top.key] = value
      skipWs()
      const d = text.charAt(i)
      if (d === ',') {
        i++
        if (top.obj !== undefined) readKey(top)
        break
      }
      if ((d === ']' && top.arr !== undefined) || (d === '}' && top.obj !== undefined)) {
        i++
        stack.pop()
        value = top.arr ?? top.obj
        continue
      }
      throw invalid(`expected ',' or '${top.arr ? ']' : '}'}', ${describeAt(text, i)}`)
    }
  }
}

/**
 * JSON text of a value as {@link parseJsonBody} returns it: `bigint` as its digits, numbers as
 * reals (`2.0`, as serde_json writes an `f64`). Used to bind "any other JSON" parameters as
 * their JSON text, as Corrosion does.
 */
export function stringifyJson(v: unknown): string {
  if (v === null || v === undefined) return 'null'
  switch (typeof v) {
    case 'bigint':
      return v.toString()
    case 'number':
      return realJson(v)
    case 'string':
      return JSON.stringify(v)
    case 'boolean':
      return v ? 'true' : 'false'
    case 'object': {
      if (Array.isArray(v)) return '[' + v.map(stringifyJson).join(',') + ']'
      const parts: string[] = []
      for (const [k, x] of Object.entries(v)) parts.push(JSON.stringify(k) + ':' + stringifyJson(x))
      return '{' + parts.join(',') + '}'
    }
    default:
      return 'null'
  }
}
