import type { SqlValue } from '@patina/api'

/**
 * Stable text encoding of a tuple of primary-key values, used as map key and stored in the
 * subscription store. Integers encode the same whether they arrive as `number` or `bigint`.
 * Reversible with {@link decodeKey}.
 */
export function encodeKey(values: readonly SqlValue[]): string {
  return JSON.stringify(values.map(encodeOne))
}

function encodeOne(v: SqlValue): string {
  if (v === null) return 'n'
  switch (typeof v) {
    case 'number':
      return Number.isInteger(v) ? 'i' + String(v) : 'r' + String(v)
    case 'bigint':
      return 'i' + v.toString()
    case 'string':
      return 's' + v
    default:
      return 'b' + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')
  }
}

export function decodeKey(key: string): SqlValue[] {
  return (JSON.parse(key) as string[]).map(decodeOne)
}

/** Whether every value of an encoded key is null (an unmatched left-joined table). */
export function isNullKey(key: string): boolean {
  return (JSON.parse(key) as string[]).every((p) => p === 'n')
}

function decodeOne(p: string): SqlValue {
  const tag = p.charAt(0)
  const body = p.slice(1)
  switch (tag) {
    case 'n':
      return null
    case 'i': {
      const n = Number(body)
      return Number.isSafeInteger(n) ? n : BigInt(body)
    }
    case 'r':
      return Number(body)
    case 's':
      return body
    case 'b':
      return new Uint8Array(Buffer.from(body, 'hex'))
    default:
      throw new RangeError(`invalid key part ${JSON.stringify(p)}`)
  }
}

/** Encodes statement parameters (positional or named) as text, reversibly. */
export function encodeParams(params: SqlValue[] | Record<string, SqlValue> | undefined): string | null {
  if (params === undefined) return null
  if (Array.isArray(params)) return JSON.stringify({ p: params.map(encodeOne) })
  return JSON.stringify({ n: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, encodeOne(v)])) })
}

export function decodeParams(text: string | null): SqlValue[] | Record<string, SqlValue> | undefined {
  if (text === null) return undefined
  const o = JSON.parse(text) as { p?: string[]; n?: Record<string, string> }
  if (o.p) return o.p.map(decodeOne)
  return Object.fromEntries(Object.entries(o.n ?? {}).map(([k, v]) => [k, decodeOne(v)]))
}
