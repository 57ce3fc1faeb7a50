import { PatinaError } from '@patina/api'
import type { SqlValue } from '@patina/api'
import { Packr } from 'msgpackr'
import type { Change, Changeset, FullChangeset, Range, SyncState } from '../types.js'
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from './limits.js'

/**
 * Wire format of changesets (msgpack via msgpackr):
 *
 * full:  [2, 0, actor(bin 16), version, ts, seqStart, seqEnd, lastSeq, tables[], cids[], flat[]]
 * empty: [2, 1, actor(bin 16), firstVersion, lastVersion]
 *
 * `flat` holds 7 entries per change: table index, pk (bin), cid index, value, col_version,
 * cl, seq.
 *
 * A value keeps its SQLite storage class (format 2): NULL is nil, TEXT a string, BLOB bin,
 * INTEGER a msgpack integer (exact over the whole signed 64-bit range), and REAL a one-element
 * array holding the number (`[5]` is REAL 5.0, `5` is INTEGER 5), because msgpack writes an
 * integral double as an integer and could not tell them apart.
 *
 * The leading number is the format version. Format 1 (Patina before storage classes were kept)
 * carried every number as a plain msgpack number, so an INTEGER and an integral REAL looked the
 * same: it is refused on the network with a reason naming the cause (`decodeChangeset`), and
 * read only from this node's own buffer of partly received versions, written before an upgrade
 * (`changesetFromWire` with `legacy`, integral numbers read as INTEGER).
 */
export const CHANGESET_FORMAT = 2
/** The format of changesets written before storage classes were kept. */
export const LEGACY_CHANGESET_FORMAT = 1

const packr = new Packr({
  useRecords: false,
  int64AsType: 'auto' as 'bigint',
  mapsAsObjects: true,
  moreTypes: false,
})

export function uuidToBytes(id: string): Uint8Array {
  const hex = id.replace(/-/g, '')
  if (!/^[0-9a-f]{32}$/i.test(hex))
    throw new PatinaError('PATINA_ERR_CHANGESET_INVALID', `invalid actor id ${JSON.stringify(id)}`)
  return Buffer.from(hex, 'hex')
}

export function bytesToUuid(b: Uint8Array): string {
  const h = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

export function encodeChangeset(cs: Changeset): Uint8Array {
  return packr.pack(changesetToWire(cs))
}

/** The msgpack-ready array form, for embedding changesets in larger messages. */
export function changesetToWire(cs: Changeset): unknown[] {
  const actor = uuidToBytes(cs.actorId)
  if (cs.kind === 'empty') return [CHANGESET_FORMAT, 1, actor, cs.versions[0], cs.versions[1]]
  const tables: string[] = []
  const cids: string[] = []
  const tIdx = new Map<string, number>()
  const cIdx = new Map<string, number>()
  const flat: unknown[] = new Array(cs.changes.length * 7)
  let o = 0
  for (const c of cs.changes) {
    let t = tIdx.get(c.table)
    if (t === undefined) {
      t = tables.push(c.table) - 1
      tIdx.set(c.table, t)
    }
    let k = cIdx.get(c.cid)
    if (k === undefined) {
      k = cids.push(c.cid) - 1
      cIdx.set(c.cid, k)
    }
    flat[o++] = t
    flat[o++] = c.pk
    flat[o++] = k
    flat[o++] = valueToWire(c.val)
    flat[o++] = c.colVersion
    flat[o++] = c.cl
    flat[o++] = c.seq
  }
  return [
    CHANGESET_FORMAT,
    0,
    actor,
    cs.version,
    cs.ts,
    cs.seqStart,
    cs.seqEnd,
    cs.lastSeq,
    tables,
    cids,
    flat,
  ]
}

const MIN_I64 = -(2n ** 63n)
const MAX_I64 = 2n ** 63n - 1n
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER)
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/** A value in its wire form: INTEGER as the shortest msgpack integer, REAL wrapped in an array. */
function valueToWire(v: SqlValue): unknown {
  if (typeof v === 'bigint') return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v
  if (typeof v === 'number') return [v]
  return v
}

/**
 * A value from its wire form, or undefined when it is not one. Format 2: an integer is an
 * INTEGER (bigint), `[number]` a REAL. Legacy (format 1): an integral number within the 64-bit
 * range is taken for an INTEGER, any other number for a REAL.
 */
function valueFromWire(w: unknown, legacy: boolean): SqlValue | undefined {
  if (w === null || typeof w === 'string' || w instanceof Uint8Array) return w
  if (typeof w === 'bigint') return w >= MIN_I64 && w <= MAX_I64 ? w : undefined
  if (typeof w === 'number') {
    if (Number.isSafeInteger(w)) return BigInt(w)
    if (!legacy || Number.isNaN(w)) return undefined
    return Number.isInteger(w) && w >= -(2 ** 63) && w < 2 ** 63 ? BigInt(w) : w
  }
  if (!legacy && Array.isArray(w) && w.length === 1 && typeof w[0] === 'number' && !Number.isNaN(w[0]))
    return w[0]
  return undefined
}

/** `bytes` as msgpack, refused before decoding above `maxBytes`; `what` names them in errors. */
function unpackBounded(bytes: Uint8Array, maxBytes: number, what: string): unknown {
  if (bytes.length > maxBytes)
    throw new PatinaError(
      'PATINA_ERR_CHANGESET_TOO_LARGE',
      `${what} of ${bytes.length} bytes is above the limit of ${maxBytes} bytes`,
    )
  try {
    return packr.unpack(bytes)
  } catch (err) {
    throw new PatinaError(
      'PATINA_ERR_CHANGESET_INVALID',
      `${what} is not valid msgpack: ${(err as Error).message}`,
    )
  }
}

export function decodeChangeset(bytes: Uint8Array, limits: Partial<DecodeLimits> = {}): Changeset {
  const lim = { ...DEFAULT_DECODE_LIMITS, ...limits }
  const raw = unpackBounded(bytes, lim.maxBytes, 'changeset')
  return changesetFromWire(raw, lim)
}

const fail = (why: string): never => {
  throw new PatinaError('PATINA_ERR_CHANGESET_INVALID', `invalid changeset: ${why}`)
}

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/**
 * Validate the structure of a decoded changeset; every field is checked before use.
 * `legacy` also reads format 1 (only for changesets this node stored itself before an upgrade).
 */
export function changesetFromWire(
  raw: unknown,
  limits: Partial<DecodeLimits> = {},
  opts: { legacy?: boolean } = {},
): Changeset {
  const lim = { ...DEFAULT_DECODE_LIMITS, ...limits }
  if (!Array.isArray(raw)) return fail('not an array')
  const legacy = raw[0] === LEGACY_CHANGESET_FORMAT && opts.legacy === true
  if (raw[0] === LEGACY_CHANGESET_FORMAT && !legacy)
    return fail(
      `format version 1 is not accepted: it cannot tell INTEGER from REAL values (written by Patina before storage classes were kept); upgrade the sending node (this node reads format ${CHANGESET_FORMAT})`,
    )
  if (raw[0] !== CHANGESET_FORMAT && !legacy)
    return fail(`unsupported format version ${String(raw[0])}, expected ${CHANGESET_FORMAT}`)
  const actor = raw[2]
  if (!(actor instanceof Uint8Array) || actor.length !== 16) return fail('actor id must be 16 bytes')
  const actorId = bytesToUuid(actor)
  if (raw[1] === 1) {
    if (raw.length !== 5) return fail('empty changeset must have 5 fields')
    const [, , , a, b] = raw
    if (!isUint(a) || !isUint(b) || a < 1 || b < a)
      return fail(`bad version range ${String(a)}..${String(b)}`)
    return { kind: 'empty', actorId, versions: [a, b] }
  }
  if (raw[1] !== 0) return fail(`unknown kind ${String(raw[1])}`)
  if (raw.length !== 11) return fail('full changeset must have 11 fields')
  const [, , , version, ts, seqStart, seqEnd, lastSeq, tables, cids, flat] = raw
  if (!isUint(version) || version < 1)
    return fail(`version must be a positive integer, got ${String(version)}`)
  if (!isUint(ts)) return fail('ts must be a non-negative integer')
  if (!isUint(seqStart) || !isUint(seqEnd) || !isUint(lastSeq) || seqStart > seqEnd || seqEnd > lastSeq) {
    return fail(`bad seq range ${String(seqStart)}..${String(seqEnd)} of ${String(lastSeq)}`)
  }
  const names = (v: unknown, what: string): string[] => {
    if (!Array.isArray(v) || v.length > lim.maxNames)
      return fail(`${what} must be an array of at most ${lim.maxNames}`)
    for (const n of v) {
      if (typeof n !== 'string' || n.length === 0 || n.length > lim.maxNameLength)
        return fail(`bad ${what} name`)
    }
    return v as string[]
  }
  const tbls = names(tables, 'tables')
  const cols = names(cids, 'columns')
  if (!Array.isArray(flat) || flat.length % 7 !== 0)
    return fail('changes must be a flat array of 7 fields per change')
  const n = flat.length / 7
  if (n > lim.maxChanges) return fail(`${n} changes is above the limit of ${lim.maxChanges}`)
  const changes: Change[] = new Array(n)
  let prevSeq = -1
  for (let i = 0, o = 0; i < n; i++, o += 7) {
    const table = tbls[flat[o] as number]
    const pk = flat[o + 1]
    const cid = cols[flat[o + 2] as number]
    const val = valueFromWire(flat[o + 3], legacy)
    const colVersion = flat[o + 4]
    const cl = flat[o + 5]
    const seq = flat[o + 6]
    if (table === undefined || !isUint(flat[o])) return fail(`change ${i}: bad table index`)
    if (cid === undefined || !isUint(flat[o + 2])) return fail(`change ${i}: bad column index`)
    if (!(pk instanceof Uint8Array) || pk.length === 0) return fail(`change ${i}: pk must be bytes`)
    if (val === undefined)
      return fail(
        `change ${i}: value of unsupported type (allowed: nil, string, bin, a 64-bit integer, [number] for a REAL)`,
      )
    if (!isUint(colVersion) || colVersion < 1) return fail(`change ${i}: col_version must be positive`)
    if (!isUint(cl) || cl < 1) return fail(`change ${i}: cl must be positive`)
    if (!isUint(seq) || seq < seqStart || seq > seqEnd || seq <= prevSeq) {
      return fail(`change ${i}: seq ${String(seq)} outside ${seqStart}..${seqEnd} or not increasing`)
    }
    if (cid === '-1') {
      if (colVersion !== cl || val !== null)
        return fail(`change ${i}: sentinel must have col_version = cl and a null value`)
    } else if (cl % 2 === 0) {
      return fail(`change ${i}: a column change cannot carry an even (deleted) causal length`)
    }
    prevSeq = seq
    changes[i] = { table, pk, cid, val, colVersion, cl, seq }
  }
  return { kind: 'full', actorId, version, ts, seqStart, seqEnd, lastSeq, changes } satisfies FullChangeset
}

export function encodeSyncState(s: SyncState): Uint8Array {
  return packr.pack(s)
}

export function decodeSyncState(bytes: Uint8Array, maxBytes = 16 * 1024 * 1024): SyncState {
  return validateSyncState(unpackBounded(bytes, maxBytes, 'sync state'))
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

function isRanges(v: unknown): v is Range[] {
  return (
    Array.isArray(v) &&
    v.every((r) => Array.isArray(r) && r.length === 2 && isUint(r[0]) && isUint(r[1]) && r[0] <= r[1])
  )
}

export function validateSyncState(raw: unknown): SyncState {
  const bad = (why: string): never => {
    throw new PatinaError('PATINA_ERR_CHANGESET_INVALID', `invalid sync state: ${why}`)
  }
  if (typeof raw !== 'object' || raw === null) return bad('not an object')
  const r = raw as Record<string, unknown>
  if (typeof r['actorId'] !== 'string' || !UUID.test(r['actorId'])) return bad('actorId must be a UUID')
  const obj = (v: unknown, what: string): Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : bad(`${what} must be a map`)
  const heads = obj(r['heads'], 'heads')
  const need = obj(r['need'], 'need')
  const partialNeed = obj(r['partialNeed'], 'partialNeed')
  for (const [k, v] of Object.entries(heads)) if (!UUID.test(k) || !isUint(v)) bad(`head of ${k}`)
  for (const [k, v] of Object.entries(need)) if (!UUID.test(k) || !isRanges(v)) bad(`need of ${k}`)
  for (const [k, v] of Object.entries(partialNeed)) {
    if (!UUID.test(k)) bad(`partialNeed actor ${k}`)
    for (const [ver, rs] of Object.entries(obj(v, 'partialNeed entry')))
      if (!/^\d+$/.test(ver) || !isRanges(rs)) bad(`partialNeed of ${k}`)
  }
  return raw as SyncState
}
