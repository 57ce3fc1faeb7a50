/**
 * What a template's `sql(...)` returns: an array of rows (column → value objects) sorted by
 * their cells left to right, with the column names and `toJson()` / `toCsv()` on it.
 *
 * Why sorted: a live view has no order of its own (rows arrive by snapshot, change and
 * failover reconciliation), and a template must render the same text from the same data,
 * whichever worker it came from, so that an unchanged state never runs the command again.
 */
import type { JsonSqlValue } from '@patina/api'
import { compareRows, toCsv, toJson } from './format.js'

export type Row = Readonly<Record<string, JsonSqlValue>>

export interface QueryResult extends ReadonlyArray<Row> {
  /** The column names, in the query's order. */
  readonly columns: readonly string[]
  /** Each row's cells, in the same order as the rows. */
  readonly cells: ReadonlyArray<readonly JsonSqlValue[]>
  /** The rows as a JSON array of objects (`{ pretty: true }`: indented). */
  toJson(opts?: { pretty?: boolean }): string
  /** The rows as CSV with a header line (RFC 4180). */
  toCsv(): string
}

/** Builds a {@link QueryResult} from a view's columns and cells (copied and sorted). */
export function buildResult(
  columns: readonly string[],
  rows: Iterable<readonly JsonSqlValue[]>,
): QueryResult {
  const cells = [...rows].map((r) => Object.freeze([...r])).sort(compareRows)
  const cols = Object.freeze([...columns])
  const objects = cells.map((c) => {
    const o: Record<string, JsonSqlValue> = {}
    cols.forEach((name, i) => (o[name] = c[i] ?? null))
    return Object.freeze(o)
  })
  const hidden = (value: unknown): PropertyDescriptor => ({ value, enumerable: false })
  Object.defineProperties(objects, {
    columns: hidden(cols),
    cells: hidden(Object.freeze(cells)),
    toJson: hidden((opts?: { pretty?: boolean }) => toJson(objects, opts?.pretty === true)),
    toCsv: hidden(() => toCsv(cols, cells)),
  })
  return Object.freeze(objects) as unknown as QueryResult
}
