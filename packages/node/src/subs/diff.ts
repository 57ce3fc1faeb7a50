import type { SqlValue } from '@patina/api'
import {
  encodeKey,
  type QueryPlan,
  type StoredChange,
  type StoredChangeType,
  type SubBatch,
} from '@patina/core'
import { rowJson } from '../wire/json.js'
import type { StoredEntry, SubRows } from './rows.js'

/**
 * Pure diffing of subscription results: identity keys of result rows, the changes between
 * the stored rows and a fresh result, and the batch (row ids, change ids) that records them.
 */

/** A row of a fresh result, by identity key. */
export interface FreshRow {
  cells: string
  tableKeys: string[]
}

export interface Diff {
  type: StoredChangeType
  key: string
  entry: StoredEntry
}

/**
 * Builds identity keys for the rows of one result, in result order (see `RowIdentity`): the
 * n-th (n ≥ 2) row with an identity already seen gets the suffix `#n-1`.
 */
export function createIdentifier(
  plan: QueryPlan,
): (row: readonly SqlValue[]) => { key: string; fresh: FreshRow } {
  const seen = new Map<string, number>()
  const userCount = (row: readonly SqlValue[]): number => row.length - plan.hiddenCount
  const incremental = plan.maintenance === 'incremental'
  return (row) => {
    const n = userCount(row)
    if (n !== plan.outputColumns.length) {
      // The schema changed under the plan: never send a row of another width than the header.
      throw new Error(`a result row has ${n} columns where the subscription has ${plan.outputColumns.length}`)
    }
    const cells = rowJson(row.slice(0, n))
    let base: string
    let tableKeys: string[] = []
    const id = plan.identity
    if (id.kind === 'pks') {
      const hidden = row.slice(n)
      base = encodeKey(hidden)
      if (incremental) {
        tableKeys = plan.tables.map((t) =>
          encodeKey(hidden.slice(t.hiddenOffset, t.hiddenOffset + t.pk.length)),
        )
      }
    } else if (id.kind === 'columns') base = 'c' + encodeKey(id.columns.map((c) => row[c] ?? null))
    else base = 'v' + cells
    const k = seen.get(base) ?? 0
    seen.set(base, k + 1)
    return { key: k === 0 ? base : `${base}#${k}`, fresh: { cells, tableKeys } }
  }
}

/**
 * Changes that turn the stored rows into `fresh` for the rows in scope: fresh rows not stored
 * are inserts, stored rows whose cells differ are updates (same row id), and rows of `scope`
 * missing from `fresh` are deletes (with their last cells).
 */
export function diffRows(
  stored: SubRows,
  fresh: ReadonlyMap<string, FreshRow>,
  scope: Iterable<string>,
): Diff[] {
  const out: Diff[] = []
  for (const [key, r] of fresh) {
    const prev = stored.get(key)
    if (!prev) out.push({ type: 'insert', key, entry: { rowid: 0, cells: r.cells, tableKeys: r.tableKeys } })
    else if (prev.cells !== r.cells) {
      out.push({ type: 'update', key, entry: { rowid: prev.rowid, cells: r.cells, tableKeys: r.tableKeys } })
    }
  }
  for (const key of scope) {
    if (fresh.has(key)) continue
    const prev = stored.get(key)
    if (prev) out.push({ type: 'delete', key, entry: prev })
  }
  return out
}

/**
 * The store batch of `diffs`: inserts take the next row ids (in order), every diff takes the
 * next change id. Sets the row id of inserted entries.
 */
export function batchOf(
  diffs: readonly Diff[],
  counters: { lastChangeId: number; nextRowid: number },
  atMs: number,
): SubBatch {
  const batch: SubBatch = {
    upserts: [],
    deletes: [],
    changes: [],
    lastChangeId: counters.lastChangeId,
    nextRowid: counters.nextRowid,
  }
  for (const d of diffs) {
    if (d.type === 'insert') d.entry.rowid = batch.nextRowid++
    const change: StoredChange = {
      changeId: ++batch.lastChangeId,
      type: d.type,
      rowid: d.entry.rowid,
      cells: d.entry.cells,
      atMs,
    }
    batch.changes.push(change)
    if (d.type === 'delete') batch.deletes.push(d.entry.rowid)
    else batch.upserts.push({ rowid: d.entry.rowid, key: d.key, cells: d.entry.cells })
  }
  return batch
}
