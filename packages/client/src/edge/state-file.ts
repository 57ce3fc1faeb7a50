import { open, readFile, rename, unlink } from 'node:fs/promises'
import type { JsonParam, JsonSqlValue, RowId } from '@patina/api'

/** One query's saved view. */
export interface SavedView {
  sql: string
  params: JsonParam[] | Record<string, JsonParam> | null
  key: string[]
  columns: string[]
  rows: Array<[RowId, JsonSqlValue[]]>
}

/** The state file: every query's rows, for a warm restart. */
export interface EdgeState {
  format: 'patina-edge-state'
  version: 1
  /** Wall-clock ms when it was written. */
  saved_at: number
  queries: Record<string, SavedView>
}

/**
 * Writes the state atomically: to a temporary file in the same directory, fsync, then rename
 * over the target. A crash leaves either the old file or the new one, never a torn one.
 */
export async function saveEdgeState(path: string, state: EdgeState): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  const fh = await open(tmp, 'w')
  try {
    await fh.writeFile(JSON.stringify(state))
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
}

/**
 * Reads a state file. Returns null when it does not exist; throws (with the reason) when it is
 * unreadable or not a state file, so the caller can log it and start cold.
 */
export async function loadEdgeState(path: string): Promise<EdgeState | null> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  const v = JSON.parse(text) as Partial<EdgeState>
  if (
    v.format !== 'patina-edge-state' ||
    v.version !== 1 ||
    typeof v.queries !== 'object' ||
    v.queries === null
  )
    throw new Error(`${path} is not a patina edge state file (format/version)`)
  for (const [name, q] of Object.entries(v.queries)) {
    if (!Array.isArray(q.columns) || !Array.isArray(q.rows) || typeof q.sql !== 'string')
      throw new Error(`${path}: query ${name} is malformed`)
  }
  return v as EdgeState
}
