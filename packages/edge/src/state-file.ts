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

/** Rows per piece of the state file: the file is written piece by piece, never built as one string. */
const ROWS_PER_PIECE = 2000

/** The state file's JSON text, in pieces (their concatenation is `JSON.stringify(state)`). Pure. */
export function* stateFilePieces(state: EdgeState): Generator<string, void, undefined> {
  yield `{"format":${JSON.stringify(state.format)},"version":${JSON.stringify(state.version)},"saved_at":${JSON.stringify(state.saved_at)},"queries":{`
  let firstQuery = true
  for (const [name, q] of Object.entries(state.queries)) {
    const head = `${firstQuery ? '' : ','}${JSON.stringify(name)}:{"sql":${JSON.stringify(q.sql)},"params":${JSON.stringify(q.params ?? null)},"key":${JSON.stringify(q.key)},"columns":${JSON.stringify(q.columns)},"rows":[`
    firstQuery = false
    yield head
    for (let i = 0; i < q.rows.length; i += ROWS_PER_PIECE) {
      const part = JSON.stringify(q.rows.slice(i, i + ROWS_PER_PIECE))
      yield `${i === 0 ? '' : ','}${part.slice(1, -1)}`
    }
    yield ']}'
  }
  yield '}}'
}

/**
 * Writes the state atomically: to a temporary file in the same directory, fsync, then rename
 * over the target. A crash leaves either the old file or the new one, never a torn one. The
 * text is written piece by piece ({@link stateFilePieces}): a 100,000-row view costs a few
 * hundred kilobytes of strings at a time, not a copy of the whole file in memory (twice: the
 * string and its bytes), and lookups are served between pieces.
 */
export async function saveEdgeState(path: string, state: EdgeState): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  const fh = await open(tmp, 'w')
  try {
    for (const piece of stateFilePieces(state)) await fh.write(piece)
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

/** A state file that cannot be used: the message names the file and what is wrong with it. */
export class EdgeStateFileError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`edge state file ${file}: ${problem}`)
    this.name = 'EdgeStateFileError'
  }
}

const isCell = (v: unknown): boolean =>
  v === null ||
  typeof v === 'string' ||
  (typeof v === 'number' && Number.isFinite(v)) ||
  (Array.isArray(v) && v.every((b) => Number.isInteger(b) && b >= 0 && b <= 255))
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string')

/** The first problem of a saved view, or null when it is well-formed. Pure. */
function viewProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'is not an object'
  const q = v as Record<string, unknown>
  if (typeof q['sql'] !== 'string') return 'sql is not a string'
  if (q['params'] !== null && q['params'] !== undefined && typeof q['params'] !== 'object')
    return 'params is not an array, an object or null'
  if (!isStrings(q['key']) || q['key'].length === 0) return 'key is not a non-empty list of column names'
  if (!isStrings(q['columns'])) return 'columns is not a list of column names'
  const cols = q['columns'].length
  if (!Array.isArray(q['rows'])) return 'rows is not a list'
  const seen = new Set<number>()
  for (let i = 0; i < q['rows'].length; i++) {
    const r: unknown = q['rows'][i]
    if (!Array.isArray(r) || r.length !== 2) return `rows[${i}] is not a [rowid, cells] pair`
    const [id, cells] = r as [unknown, unknown]
    if (!Number.isSafeInteger(id) || (id as number) < 0)
      return `rows[${i}] rowid ${JSON.stringify(id)} is not an integer >= 0`
    if (seen.has(id as number)) return `rows[${i}] repeats rowid ${String(id)}`
    seen.add(id as number)
    if (!Array.isArray(cells) || cells.length !== cols)
      return `rows[${i}] does not have one cell per column (${cols})`
    if (!cells.every(isCell)) return `rows[${i}] holds a value that is not null, a number, a string or a blob`
  }
  return null
}

/**
 * Reads a state file. Returns null when it does not exist; throws {@link EdgeStateFileError}
 * (naming the file and what is wrong: unreadable, not JSON, not a state file, which query and
 * row is malformed) when it cannot be used, so that the caller can log it and start cold.
 */
export async function loadEdgeState(path: string): Promise<EdgeState | null> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new EdgeStateFileError(path, `cannot be read: ${(err as Error).message}`)
  }
  let v: Partial<EdgeState>
  try {
    v = JSON.parse(text) as Partial<EdgeState>
  } catch (err) {
    throw new EdgeStateFileError(
      path,
      `is not valid JSON (${(err as Error).message}); truncated or not a state file`,
    )
  }
  if (typeof v !== 'object' || v === null || v.format !== 'patina-edge-state')
    throw new EdgeStateFileError(path, 'is not a patina edge state file (no "format": "patina-edge-state")')
  if (v.version !== 1)
    throw new EdgeStateFileError(path, `has version ${JSON.stringify(v.version)}; this edge reads version 1`)
  if (typeof v.saved_at !== 'number') throw new EdgeStateFileError(path, 'saved_at is not a number')
  if (typeof v.queries !== 'object' || v.queries === null || Array.isArray(v.queries))
    throw new EdgeStateFileError(path, 'queries is not an object')
  for (const [name, q] of Object.entries(v.queries)) {
    const problem = viewProblem(q)
    if (problem !== null) throw new EdgeStateFileError(path, `queries.${name} ${problem}`)
  }
  return v as EdgeState
}
