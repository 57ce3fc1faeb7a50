/**
 * Value formatting for templates: pure functions, table-tested. They turn SQLite values (as the
 * client gives them: null, number, text, or a blob as an array of bytes) into text for config
 * files, and refuse (throw {@link TemplateValueError}) a value that cannot be written safely
 * rather than produce a config that means something else.
 */
import type { JsonSqlValue } from '@patina/api'

/** A value a template can not write in the asked format; the message names the value and why. */
export class TemplateValueError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TemplateValueError'
  }
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}

/** The text of a value as `<%= %>` writes it: null and undefined as '', a blob or object as JSON. */
export function toText(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v)
  return JSON.stringify(v) ?? ''
}

/** `JSON.stringify`, two-space indented when `pretty`; bigints as numbers. */
export function toJson(v: unknown, pretty = false): string {
  return (
    JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x), pretty ? 2 : undefined) ??
    'null'
  )
}

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF; quotes doubled. */
export function csvField(v: JsonSqlValue | undefined): string {
  const s = toText(v)
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

/** CSV text (RFC 4180, CRLF line ends): a header line of the columns, then one line per row. */
export function toCsv(columns: readonly string[], rows: Iterable<readonly JsonSqlValue[]>): string {
  const lines = [columns.map(csvField).join(',')]
  for (const r of rows) lines.push(columns.map((_c, i) => csvField(r[i])).join(','))
  return lines.join('\r\n') + '\r\n'
}

function textOf(v: unknown, format: string): string {
  if (v === null || v === undefined)
    throw new TemplateValueError(`${format}: the value is ${String(v)}; there is no ${format} string for it`)
  if (typeof v === 'object')
    throw new TemplateValueError(`${format}: the value ${show(v)} is not text or a number`)
  return String(v)
}

/**
 * A double-quoted nginx string. nginx reads `\"`, `\\`, `\n`, `\r` and `\t` inside quotes;
 * it has no escape for `$`, which starts a variable in most directives, so a value holding `$`
 * is refused, as is a NUL byte.
 */
export function nginxString(v: unknown): string {
  const s = textOf(v, 'nginx')
  if (s.includes('$'))
    throw new TemplateValueError(
      `nginx: the value ${show(s)} holds "$", which nginx reads as a variable and cannot escape`,
    )
  if (s.includes('\0')) throw new TemplateValueError(`nginx: the value ${show(s)} holds a NUL byte`)
  return `"${s.replace(/[\\"\n\r\t]/g, (c) => NGINX_ESCAPES[c] ?? c)}"`
}
const NGINX_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '"': '\\"',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
}

/**
 * A double-quoted HAProxy string (HAProxy 2.x "Quoting and escaping"): `\`, `"` and `$` (which
 * would expand an environment variable) get a backslash. A config line cannot hold a line break
 * or a NUL byte, so such a value is refused.
 */
export function haproxyString(v: unknown): string {
  const s = textOf(v, 'haproxy')
  if (/[\r\n\0]/.test(s))
    throw new TemplateValueError(
      `haproxy: the value ${show(s)} holds a line break or NUL byte, which a config line cannot hold`,
    )
  return `"${s.replace(/[\\"$]/g, (c) => `\\${c}`)}"`
}

/** True for SQL NULL (and a missing column). */
export function isNull(v: unknown): boolean {
  return v === null || v === undefined
}

/** The storage class of a value, for SQLite's ordering: NULL < numbers < text < blob. */
function rank(v: JsonSqlValue | undefined): number {
  if (v === null || v === undefined) return 0
  if (typeof v === 'number') return 1
  if (typeof v === 'string') return 2
  return 3
}

/** Compares two SQLite values as SQLite's ORDER BY does (BINARY collation for text). */
export function compareSqlValues(a: JsonSqlValue | undefined, b: JsonSqlValue | undefined): number {
  const ra = rank(a)
  const rb = rank(b)
  if (ra !== rb) return ra - rb
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0
  if (typeof a === 'string' && typeof b === 'string') {
    // BINARY collation compares UTF-8 bytes; Buffer.compare does exactly that.
    return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
  }
  if (Array.isArray(a) && Array.isArray(b)) return Buffer.compare(Buffer.from(a), Buffer.from(b))
  return 0
}

/** Compares rows cell by cell, left to right (`ORDER BY 1, 2, 3, ...`). */
export function compareRows(a: readonly JsonSqlValue[], b: readonly JsonSqlValue[]): number {
  const n = Math.max(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const c = compareSqlValues(a[i], b[i])
    if (c !== 0) return c
  }
  return 0
}
