/**
 * Pure output formatting and argument parsing for the CLI. Corrosion's `query` prints each row
 * as its cells joined by `|` (NULL as an empty string), `--columns` adds a header line of the
 * same form, and `exec` prints `Rows affected: N`; `plain` keeps that format, `table` aligns
 * columns for people, `json` prints one JSON object per row for scripts.
 */
import type { JsonParam, JsonSqlValue, MemberInfo, MembersResponse } from '@patina/api'
import { InvalidArgumentError } from 'commander'

export const QUERY_FORMATS = ['plain', 'table', 'json'] as const
export type QueryFormat = (typeof QUERY_FORMATS)[number]

/** One `--param` (bound as text, as Corrosion's CLI) or `--param-json` (typed) value, in command-line order. */
export interface CliParam {
  /** Position among all `--param`/`--param-json` options of the command line. */
  seq: number
  value: JsonParam
}

let paramSeq = 0

/** Commander parser of `--param`: the text itself, bound as TEXT whatever it looks like (Corrosion). */
export function textParam(text: string, previous: CliParam[] = []): CliParam[] {
  return [...previous, { seq: paramSeq++, value: text }]
}

/**
 * Commander parser of `--param-json`: a JSON value bound by its type as the API binds it
 * (`42` INTEGER, `4.5` REAL, `null`, `true`/`false` as 1/0, `"42"` TEXT, `[1,255]` BLOB).
 * JSON that @patina/client cannot send exactly (it writes numbers with `JSON.stringify`) is
 * refused with the way round: integers beyond ±2^53, and integral reals such as `2.0`.
 */
export function jsonParam(text: string, previous: CliParam[] = []): CliParam[] {
  let value: JsonParam
  try {
    value = JSON.parse(text) as JsonParam
  } catch (err) {
    throw new InvalidArgumentError(`not JSON (${(err as Error).message}); use --param for text`)
  }
  if (typeof value === 'number' && Number.isInteger(value) && /[.eE]/.test(text)) {
    throw new InvalidArgumentError(
      `${text.trim()} would be sent as the integer ${value}; write it into the SQL (${value}.0) or use CAST(? AS REAL)`,
    )
  }
  if (!jsonIntsSafe(value)) {
    throw new InvalidArgumentError(
      'an integer beyond ±2^53 would be rounded on the way; write it into the SQL as a literal',
    )
  }
  return [...previous, { seq: paramSeq++, value }]
}

function jsonIntsSafe(v: unknown): boolean {
  if (typeof v === 'number') return !Number.isInteger(v) || Number.isSafeInteger(v)
  if (Array.isArray(v)) return v.every(jsonIntsSafe)
  if (v !== null && typeof v === 'object') return Object.values(v).every(jsonIntsSafe)
  return true
}

/** The statement for `exec`/`query`: the bare SQL, or `[sql, params]` with the params in command-line order. */
export function statementOf(
  sql: string,
  ...lists: (readonly CliParam[] | undefined)[]
): string | [string, JsonParam[]] {
  const params = lists.flatMap((l) => l ?? []).sort((a, b) => a.seq - b.seq)
  return params.length === 0 ? sql : [sql, params.map((p) => p.value)]
}

/** A cell as text: NULL is empty (as Corrosion prints it), blobs are `x'hex'`. */
export function formatCell(v: JsonSqlValue): string {
  if (v === null) return ''
  if (Array.isArray(v)) return `x'${Buffer.from(v).toString('hex')}'`
  return String(v)
}

/** Corrosion's line format: cells joined by `|`. */
export function formatPlainRow(cells: readonly JsonSqlValue[]): string {
  return cells.map(formatCell).join('|')
}

/** A row as a JSON object keyed by column name (blobs stay byte arrays). */
export function rowObject(
  columns: readonly string[],
  cells: readonly JsonSqlValue[],
): Record<string, JsonSqlValue> {
  const o: Record<string, JsonSqlValue> = {}
  columns.forEach((c, i) => {
    o[c] = cells[i] ?? null
  })
  return o
}

const width = (s: string) => [...s].length

/** Aligned table with a header and a rule; NULL shown as `NULL` so it differs from ''. */
export function renderTable(columns: readonly string[], rows: readonly (readonly JsonSqlValue[])[]): string {
  const text = rows.map((r) => columns.map((_, i) => (r[i] === null ? 'NULL' : formatCell(r[i] ?? null))))
  const widths = columns.map((c, i) => Math.max(width(c), ...text.map((r) => width(r[i] ?? ''))))
  const pad = (s: string, i: number) => s + ' '.repeat((widths[i] ?? 0) - width(s))
  const line = (cells: readonly string[]) =>
    cells
      .map(pad)
      .join(' | ')
      .trimEnd()
      .replace(/( \|)+$/, '')
      .trimEnd()
  const out = [line(columns), widths.map((w) => '-'.repeat(w)).join('-+-')]
  for (const r of text) out.push(line(r))
  out.push(`(${rows.length} row${rows.length === 1 ? '' : 's'})`)
  return out.join('\n') + '\n'
}

/**
 * The members table of `patina cluster members`, followed, when the node reports it, by how
 * current the node is: a warning when it is isolated.
 */
export function renderMembersResponse(res: MembersResponse): string {
  const table = renderMembers(res.members)
  if (res.isolated === undefined) return table
  const contact =
    res.last_contact_ms === null || res.last_contact_ms === undefined
      ? 'never heard from another member'
      : `last heard from another member ${formatAgo(res.last_contact_ms)}`
  if (res.isolated)
    return `${table}WARNING: this node is isolated: no other member is reachable (${contact}); its writes stay local and its data may be stale until it reconnects\n`
  const n = res.reachable_members ?? 0
  return `${table}${n} other member${n === 1 ? '' : 's'} reachable; ${contact}\n`
}

function formatAgo(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms ago` : `${(ms / 1000).toFixed(1)} s ago`
}

/** `cluster members` as a table. */
export function renderMembers(members: readonly MemberInfo[]): string {
  const columns = ['actor_id', 'state', 'region', 'api_addr', 'gossip_addrs', 'rtt_ms', 'self']
  const rows = members.map((m) => [
    m.actor_id,
    m.state,
    m.region,
    m.api_addr,
    m.gossip_addrs.join(','),
    m.rtt_ms === null ? null : Math.round(m.rtt_ms * 10) / 10,
    m.self ? '*' : '',
  ])
  return renderTable(columns, rows).replace(
    /\(\d+ rows?\)\n$/,
    `(${members.length} member${members.length === 1 ? '' : 's'})\n`,
  )
}

/** `12.3 MiB` */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`
}

/** `restoring  45% (12.3 MiB of 27.0 MiB)` */
export function formatProgress(label: string, done: number, total: number): string {
  const pct = total === 0 ? 100 : Math.floor((done / total) * 100)
  return `${label} ${String(pct).padStart(3)}% (${formatBytes(done)} of ${formatBytes(total)})`
}
