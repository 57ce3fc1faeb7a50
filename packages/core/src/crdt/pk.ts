import type { SqlValue } from '@patina/api'
import { PatinaError } from '@patina/api'

/**
 * Packed primary keys: a byte encoding of the key values that is identical on every
 * node, used as the row identity in clocks and changesets.
 *
 * Layout: count (1 byte), then per value a tag and payload:
 * 0 NULL · 1 INTEGER (8 bytes, big-endian two's complement) · 2 REAL (8 bytes, float64 BE)
 * · 3 TEXT (u32 BE length + UTF-8) · 4 BLOB (u32 BE length + bytes).
 *
 * A REAL with an integral value within ±2^53 is packed as the INTEGER of that value: SQLite
 * treats 5 and 5.0 as one key, so they must be one row here too (and databases written before
 * storage classes were kept exactly packed such keys that way). A key column with a type
 * affinity converts the INTEGER back when a replica writes it; a key column without one (untyped,
 * `BLOB`, STRICT `ANY`) refuses such REALs when they are written (see `capture.ts`).
 * Unpacking gives an INTEGER as a `bigint` always (its storage class, see `values.ts`).
 */
export function packPk(values: readonly SqlValue[]): Uint8Array {
  if (values.length > 255)
    throw new PatinaError('PATINA_ERR_SCHEMA_INVALID', 'primary key has more than 255 columns')
  let size = 1
  const texts: (Buffer | null)[] = []
  for (const v of values) {
    if (typeof v === 'string') {
      const b = Buffer.from(v, 'utf8')
      texts.push(b)
      size += 5 + b.length
    } else {
      texts.push(null)
      size += v === null ? 1 : v instanceof Uint8Array ? 5 + v.length : 9
    }
  }
  const out = Buffer.allocUnsafe(size)
  out[0] = values.length
  let o = 1
  values.forEach((v, i) => {
    if (v === null) {
      out[o++] = 0
    } else if (typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v))) {
      out[o++] = 1
      out.writeBigInt64BE(typeof v === 'bigint' ? v : BigInt(v), o)
      o += 8
    } else if (typeof v === 'number') {
      out[o++] = 2
      out.writeDoubleBE(v, o)
      o += 8
    } else if (typeof v === 'string') {
      const b = texts[i] as Buffer
      out[o++] = 3
      out.writeUInt32BE(b.length, o)
      o += 4
      b.copy(out, o)
      o += b.length
    } else {
      out[o++] = 4
      out.writeUInt32BE(v.length, o)
      o += 4
      out.set(v, o)
      o += v.length
    }
  })
  return out
}

export function unpackPk(bytes: Uint8Array): SqlValue[] {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const fail = (why: string): never => {
    throw new PatinaError('PATINA_ERR_CHANGESET_INVALID', `invalid packed primary key: ${why}`)
  }
  if (buf.length < 1) fail('empty')
  const n = buf[0] as number
  const out: SqlValue[] = []
  let o = 1
  for (let i = 0; i < n; i++) {
    if (o >= buf.length) fail('truncated')
    const tag = buf[o++]
    if (tag === 0) {
      out.push(null)
    } else if (tag === 1 || tag === 2) {
      if (o + 8 > buf.length) fail('truncated number')
      if (tag === 1) out.push(buf.readBigInt64BE(o))
      else out.push(buf.readDoubleBE(o))
      o += 8
    } else if (tag === 3 || tag === 4) {
      if (o + 4 > buf.length) fail('truncated length')
      const len = buf.readUInt32BE(o)
      o += 4
      if (o + len > buf.length) fail('truncated value')
      out.push(tag === 3 ? buf.toString('utf8', o, o + len) : Buffer.from(buf.subarray(o, o + len)))
      o += len
    } else {
      fail(`unknown tag ${String(tag)}`)
    }
  }
  if (o !== buf.length) fail('trailing bytes')
  return out
}

/** A map key for a packed primary key. */
export const pkKey = (pk: Uint8Array): string =>
  Buffer.from(pk.buffer, pk.byteOffset, pk.byteLength).toString('latin1')
