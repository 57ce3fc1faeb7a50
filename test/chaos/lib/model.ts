/**
 * The reference model of Patina's merge rules (DESIGN.md §2), written from the rules, not from
 * the engine's code (same idea as `packages/core/test/crdt/convergence.property.test.ts`): for each
 * row the largest causal length decides liveness; within it each cell takes the change with the
 * largest (col_version, value, site id); a cell nobody wrote at that causal length has its
 * default. Applied to every changeset a history produced, in any order.
 */
import { compareValues, packPk, SENTINEL, type FullChangeset } from '@patina/core'
import type { SqlValue } from '@patina/api'
import type { Row } from './history.js'

const DEFAULTS: Record<string, SqlValue> = { a: null, b: null, n: 0 }

interface Best {
  colVersion: number
  val: SqlValue
  site: string
}

/** Final `kv` rows the merge rules give for `all` (sorted by k). */
export function modelKv(all: readonly FullChangeset[]): Row[] {
  const rows = new Map<string, { cl: number; cells: Map<string, Best> }>()
  for (const cs of all) {
    for (const c of cs.changes) {
      if (c.table !== 'kv') continue
      const key = Buffer.from(c.pk).toString('hex')
      let r = rows.get(key)
      if (r === undefined) rows.set(key, (r = { cl: 0, cells: new Map() }))
      if (c.cl > r.cl) {
        r.cl = c.cl
        r.cells.clear()
      }
      if (c.cl < r.cl || c.cid === SENTINEL) continue
      const cur = r.cells.get(c.cid)
      const cmp = cur === undefined ? 1 : compareValues(c.val, cur.val)
      const better =
        cur === undefined ||
        c.colVersion > cur.colVersion ||
        (c.colVersion === cur.colVersion && (cmp > 0 || (cmp === 0 && cs.actorId > cur.site)))
      if (better) r.cells.set(c.cid, { colVersion: c.colVersion, val: c.val, site: cs.actorId })
    }
  }
  const out: Row[] = []
  for (const [key, r] of rows) {
    if (r.cl % 2 === 0) continue
    const cell = (col: string): SqlValue =>
      r.cells.has(col) ? (r.cells.get(col) as Best).val : (DEFAULTS[col] ?? null)
    out.push({
      k: pkToInt(key),
      a: cell('a') as string | null,
      b: cell('b') as string | null,
      n: Number(cell('n')),
    })
  }
  return out.sort((x, y) => x.k - y.k)
}

const pkCache = new Map<string, number>()
/** The integer key whose packed form is `hex` (keys are small; built by packing candidates). */
function pkToInt(hex: string): number {
  if (pkCache.size === 0)
    for (let k = 0; k < 10_000; k++) pkCache.set(Buffer.from(packPk([k])).toString('hex'), k)
  const k = pkCache.get(hex)
  if (k === undefined) throw new Error(`model: primary key ${hex} is not a small integer`)
  return k
}
