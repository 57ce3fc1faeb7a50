import type { StoredChange, SubsStore } from '@patina/core'
import { lines } from '../wire/json.js'
import type { Sub } from './subscription.js'

/** The NDJSON lines a subscriber receives before live changes. */

/** `columns`, every stored row in row-id order, `eoq` with the last change id. */
export function snapshotLines(sub: Sub): string[] {
  const started = performance.now()
  const out: string[] = [lines.columns(sub.columns)]
  for (const e of sub.rows.values()) out.push(lines.row(e.rowid, e.cells))
  out.push(lines.eoq((performance.now() - started) / 1000, sub.lastChangeId))
  return out
}

export function tooOld(min: number): string {
  return `subscription already deleted older changes, min change id: ${min}`
}

/**
 * Why a client that has seen every change up to `from` cannot resume, or null. A `from`
 * ahead of the log is accepted (Corrosion's client keeps waiting for the next changes).
 */
export function resumeRefusal(sub: Sub, store: SubsStore, from: number): string | null {
  if (from >= sub.lastChangeId) return null
  const min = store.minChangeId(sub.id)
  if (min === null || min > from + 1) return tooOld(min ?? sub.lastChangeId + 1)
  return null
}

/** The stored changes after `from` up to `upTo`, page by page. */
export async function* replay(
  sub: Sub,
  store: SubsStore,
  from: number,
  upTo: number,
  pageSize: number,
): AsyncGenerator<string> {
  let after = from
  while (after < upTo) {
    const page = store.changesAfter(sub.id, after, Math.min(pageSize, upTo - after))
    if (page.length === 0 || (page[0] as StoredChange).changeId !== after + 1) {
      yield lines.error(tooOld(store.minChangeId(sub.id) ?? sub.lastChangeId + 1))
      return
    }
    for (const c of page) {
      if (c.changeId > upTo) return
      yield lines.change(c.type, c.rowid, c.cells, c.changeId)
      after = c.changeId
    }
    // Let other work run between pages.
    await new Promise((r) => setImmediate(r))
  }
}
