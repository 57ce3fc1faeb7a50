import type { SqlValue } from '@patina/api'
import { compareValues } from './values.js'

/** The clock of one cell as the merge sees it. */
export interface CellVersion {
  colVersion: number
  value: SqlValue
  /** Actor id of the last writer (text UUID), compared bytewise as the final tie-break. */
  site: string
}

/**
 * Whether a remote cell write beats the local one, within the same causal length:
 * the larger `col_version` wins, then the larger value (see `compareValues`), then the
 * larger site id. Equal in all three means the same write: not taken (idempotence).
 */
export function remoteCellWins(local: CellVersion | undefined, remote: CellVersion): boolean {
  if (local === undefined) return true
  if (remote.colVersion !== local.colVersion) return remote.colVersion > local.colVersion
  const byValue = compareValues(remote.value, local.value)
  if (byValue !== 0) return byValue > 0
  return remote.site > local.site
}

/**
 * Row liveness by causal length: a remote change with a larger cl than ours moves the row
 * to that life (odd = alive, even = deleted), resetting every cell; a smaller cl is stale.
 */
export function compareCausalLength(local: number, remote: number): 'stale' | 'same' | 'newer' {
  return remote < local ? 'stale' : remote === local ? 'same' : 'newer'
}

export const isAlive = (cl: number): boolean => cl % 2 === 1
