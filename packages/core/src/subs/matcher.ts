import { PatinaError, type SqlValue } from '@patina/api'
import { identName, quoteIdent, trimStatement, type Token } from '../sql/lexer.js'
import type { QueryFacts, QueryProbe } from '../store/query-probe.js'
import { SENTINEL } from '../types.js'
import type { RowChange, SchemaModel, Statement, TableModel } from '../types.js'
import { aggregates, nonDeterminism, planLoops, topLevelAggregate, virtualTables } from './facts.js'
import { readFrom, type FromEntry } from './from.js'
import { groupColumns, type RowIdentity } from './identity.js'
import { normalizeParams } from './params.js'
import { readSelect, spanText, type SelectShape } from './select.js'

/** One table of an incremental (or `pks`) plan's FROM clause; `tables[0]` is the root. */
export interface PlanTable {
  /** Name that qualifies its columns in the query (alias, or table name). */
  alias: string
  table: string
  pk: string[]
  join: 'root' | 'inner' | 'left'
  /** Index of its first hidden primary-key column among the hidden columns. */
  hiddenOffset: number
  /** Name SQLite's query plan shows for it (alias, or table name as written). */
  display: string
}

/**
 * How a subscription is kept up to date (Corrosion's `Matcher::new`, decided with SQLite):
 *
 * - `incremental`: every result row is one combination of rows of the FROM tables (inner and
 *   left joins, no aggregate, DISTINCT, LIMIT, subquery, compound part or window function),
 *   identified by their primary keys. When rows of table T change, the affected result rows
 *   are those whose root row is joined to a changed T row, before (found in the stored rows)
 *   or after (found by running the query restricted to T's changed keys); running the query
 *   restricted to those root keys and diffing against the stored rows gives exact changes,
 *   at a cost proportional to the rows touched.
 * - `rerun`: any other deterministic SELECT over tables of the schema: after a commit that
 *   touches what it reads, the whole query runs again and its result is diffed against the
 *   stored rows (bounded in rows and time by the hub), rows matched by {@link RowIdentity}.
 *
 * Queries whose result can change without a write (`random()`, `datetime('now')`) or that read
 * anything but the schema's tables are refused.
 */
export interface QueryPlan {
  /** The statement as given, trimmed, positional parameters renamed (see `normalizeParams`). */
  sql: string
  maintenance: 'incremental' | 'rerun'
  /** What makes an incremental plan impossible (null when incremental). */
  rerunReason: string | null
  identity: RowIdentity
  /**
   * Names of the result columns (SQLite's, from the schema the plan was made for; a pooled
   * reader connection may still report the previous schema's until its statement steps).
   */
  outputColumns: string[]
  /** FROM tables (`pks` identity); empty otherwise. */
  tables: PlanTable[]
  /** Columns that can change the result, per table read; `'all'` for every column. */
  columns: Map<string, Set<string> | 'all'>
  /** Hidden primary-key columns appended to each result row (`pks` identity). */
  hiddenCount: number
  /** The query that computes the full result (with the hidden columns). */
  innerSql: string
  /** Incremental plans: `SELECT <columns>, <hidden> FROM <from>` of the user's text. */
  head: string
  /** Incremental plans: the user's WHERE expression, or null. */
  where: string | null
}

function unsupported(message: string): PatinaError {
  return new PatinaError('PATINA_ERR_SUBSCRIPTION_UNSUPPORTED', message)
}

export function hiddenName(tableIndex: number, pkIndex: number): string {
  return `__patina_pk_${tableIndex}_${pkIndex}`
}

/**
 * Plans a subscription: refuses (`PATINA_ERR_SUBSCRIPTION_UNSUPPORTED`, naming the reason) what
 * no plan can keep exact, and otherwise says how to maintain it. SQLite, through `probe`,
 * decides what the query does; the lexer only finds where its clauses are.
 */
export function planSubscription(
  rawSql: string,
  rawParams: Statement['params'],
  schema: SchemaModel,
  probe: QueryProbe,
): { plan: QueryPlan; params: Record<string, SqlValue> | undefined } {
  const trimmed = trimStatement(rawSql)
  if (trimmed === '') throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', 'subscription SQL is empty')
  const { sql, params } = normalizeParams(trimmed, rawParams)
  const shape = readSelect(sql)
  if (!['SELECT', 'WITH', 'VALUES'].includes(shape.leading)) {
    throw unsupported(
      `a subscription is one SELECT; a ${shape.leading || 'non-SELECT'} statement cannot be subscribed to`,
    )
  }
  const facts = probe.explain(sql, params)
  if (!facts.readonly) throw unsupported('a subscription is one read-only SELECT')
  const fns = probe.functions()

  const read = new Set(facts.tablesRead)
  for (const t of read) {
    if (!schema.tables.has(t)) {
      throw unsupported(
        `${t} is not a replicated table of the schema; a subscription can only read the schema's tables`,
      )
    }
  }
  const pragma = [...shape.names].find((n) => n.startsWith('pragma_'))
  if (pragma !== undefined) throw unsupported(`${pragma} reads node-local state, not replicated tables`)
  const jsonCalls = shape.calls.filter((c) => c.name === 'json_each' || c.name === 'json_tree').length
  if (virtualTables(facts) > jsonCalls) {
    throw unsupported('a table-valued function other than json_each and json_tree cannot be subscribed to')
  }
  const paramValues = params === undefined ? [] : Object.values(params)
  const why = nonDeterminism(facts, shape, fns, paramValues)
  if (why !== null) {
    throw unsupported(
      `${why}: the result would change without any write, so a subscription cannot follow it; store the value in a column or bind it as a parameter`,
    )
  }

  let reason: string | null = null
  let identity: RowIdentity | null = null
  let from: { entry: FromEntry; model: TableModel }[] | null = null
  const { clauses } = shape
  if (shape.leading === 'WITH') reason = 'a common table expression (WITH)'
  else if (shape.leading === 'VALUES') reason = 'a VALUES statement'
  else if (shape.compound !== null) reason = `a compound SELECT (${shape.compound})`
  else if (shape.distinct) reason = 'SELECT DISTINCT'
  if (reason !== null) identity = { kind: 'content' }
  else if (clauses.groupBy) {
    reason = 'GROUP BY'
    const cols = groupColumns(shape)
    identity = cols ? { kind: 'columns', columns: cols } : { kind: 'content' }
  } else {
    const agg = topLevelAggregate(shape, fns)
    if (agg !== null || clauses.having) {
      reason = agg !== null ? `the aggregate function ${agg}` : 'HAVING'
      identity = { kind: 'columns', columns: [] }
    } else {
      const r = resolveFrom(shape, schema)
      if (typeof r === 'string') {
        reason = r
        identity = { kind: 'content' }
      } else {
        from = r
        identity = { kind: 'pks' }
      }
    }
  }
  for (const e of from ?? []) read.add(e.model.name)
  if (read.size === 0) {
    throw unsupported(
      'the query reads no table of the schema, so it never changes; a subscription needs at least one table',
    )
  }
  if (from !== null) reason = incrementalObstacle(shape, facts, from)

  const columns = new Map<string, Set<string> | 'all'>()
  for (const t of read) {
    const model = schema.tables.get(t) as TableModel
    // A generated column is computed from other columns of its row: a query naming one depends
    // on every column of that row.
    const namesGenerated = (model.generated ?? []).some((g) => shape.names.has(g.name.toLowerCase()))
    if (shape.wildcard || shape.natural || namesGenerated) columns.set(t, 'all')
    else
      columns.set(
        t,
        new Set(model.columns.filter((c) => shape.names.has(c.name.toLowerCase())).map((c) => c.name)),
      )
  }

  const plan = buildPlan(sql, shape, identity, reason, from, columns, facts.columns)
  const checked = verify(plan, facts, probe, params)
  return { plan: checked, params }
}

/** The FROM entries as schema tables, or why they are not plain tables of the schema. */
function resolveFrom(
  shape: SelectShape,
  schema: SchemaModel,
): { entry: FromEntry; model: TableModel }[] | string {
  if (!shape.clauses.from) return 'a SELECT without FROM'
  const r = readFrom(shape.tokens, shape.clauses.from)
  if (!r.ok) return r.reason
  const out: { entry: FromEntry; model: TableModel }[] = []
  for (const e of r.entries) {
    if (e.schema !== null && e.schema.toLowerCase() !== 'main')
      return `a table of attached database ${e.schema}`
    const model =
      schema.tables.get(e.table) ??
      [...schema.tables.values()].find((t) => t.name.toLowerCase() === e.table.toLowerCase())
    if (!model) return `${e.table} in FROM, which is not a table of the schema`
    if (model.pk.length === 0) return `table ${model.name}, which has no primary key`
    out.push({ entry: e, model })
  }
  return out
}

/** Why a plain SELECT over tables cannot be maintained incrementally, or null. */
function incrementalObstacle(
  shape: SelectShape,
  facts: QueryFacts,
  from: { entry: FromEntry; model: TableModel }[],
): string | null {
  const { clauses } = shape
  if (clauses.limit) return 'LIMIT/OFFSET'
  if (clauses.window || shape.calls.some((c) => c.over)) return 'a window function'
  if (shape.subqueries > 0) return 'a subquery'
  if (aggregates(facts)) return 'an aggregate'
  if (virtualTables(facts) > 0) return 'a table-valued function'
  let sawLeft = false
  for (const { entry } of from) {
    if (entry.join === 'right' || entry.join === 'full') return `a ${entry.join.toUpperCase()} JOIN`
    if (entry.join === 'inner' && sawLeft) return `an inner join (of ${entry.table}) after a left join`
    if (entry.join === 'left') sawLeft = true
  }
  const leftRef = whereOnLeftJoined(shape, from)
  if (leftRef !== null) return `a WHERE condition on left-joined table ${leftRef}`
  const named = new Set(from.map((f) => f.model.name))
  const extra = facts.tablesRead.filter((t) => !named.has(t))
  if (extra.length > 0) return `a read of ${extra.join(', ')} that FROM does not name`
  return null
}

/**
 * Why SQLite's plan of the query an incremental plan runs is not one loop per FROM table
 * (a subquery or temporary b-tree the lexer did not see, say), or null.
 */
function loopObstacle(inner: QueryFacts, tables: PlanTable[]): string | null {
  const { loops, other } = planLoops(inner)
  if (other !== null) return `a query SQLite plans with "${other}"`
  const want = tables.map((t) => t.display.toLowerCase()).sort()
  if (JSON.stringify([...loops].sort()) !== JSON.stringify(want))
    return 'a query SQLite plans with other loops than its FROM tables'
  return null
}

function displayName(e: FromEntry): string {
  return e.alias ?? (e.schema !== null ? `${e.schema}.${e.table}` : e.table)
}

function qualifier(e: FromEntry): string {
  return e.alias ?? e.table
}

/**
 * The left-joined table a WHERE token may refer to, or null. Conservative: an unqualified
 * name that is a column of a left-joined table counts, whatever else it could be.
 */
function whereOnLeftJoined(
  shape: SelectShape,
  from: { entry: FromEntry; model: TableModel }[],
): string | null {
  const span = shape.clauses.where
  if (!span) return null
  const left = from.filter((f) => f.entry.join === 'left')
  if (left.length === 0) return null
  const aliases = new Map(left.map((f) => [qualifier(f.entry).toLowerCase(), qualifier(f.entry)]))
  const cols = new Map<string, string>()
  for (const f of left) for (const c of f.model.columns) cols.set(c.name.toLowerCase(), qualifier(f.entry))
  const toks = shape.tokens
  for (let i = span.start; i < span.end; i++) {
    const name = identName(toks[i] as Token)?.toLowerCase()
    if (name === undefined) continue
    if (toks[i + 1]?.text === '.' && toks[i + 1]?.kind === 'punct') {
      const a = aliases.get(name)
      if (a !== undefined) return a
      continue
    }
    if (toks[i - 1]?.text === '.' || toks[i + 1]?.text === '(') continue
    const c = cols.get(name)
    if (c !== undefined) return c
  }
  return null
}

function buildPlan(
  sql: string,
  shape: SelectShape,
  identity: RowIdentity,
  reason: string | null,
  from: { entry: FromEntry; model: TableModel }[] | null,
  columns: Map<string, Set<string> | 'all'>,
  outputColumns: string[],
): QueryPlan {
  const plan: QueryPlan = {
    sql,
    maintenance: reason === null ? 'incremental' : 'rerun',
    rerunReason: reason,
    identity,
    outputColumns,
    tables: [],
    columns,
    hiddenCount: 0,
    innerSql: sql,
    head: '',
    where: null,
  }
  if (identity.kind !== 'pks' || from === null) return plan
  let hidden = 0
  plan.tables = from.map(({ entry, model }) => {
    const t: PlanTable = {
      alias: qualifier(entry),
      table: model.name,
      pk: [...model.pk],
      join: entry.join === 'root' ? 'root' : entry.join === 'left' ? 'left' : 'inner',
      hiddenOffset: hidden,
      display: displayName(entry),
    }
    hidden += model.pk.length
    return t
  })
  plan.hiddenCount = hidden
  const hiddenCols = plan.tables
    .flatMap((t, ti) =>
      t.pk.map((pk, pi) => `${quoteIdent(t.alias)}.${quoteIdent(pk)} AS ${hiddenName(ti, pi)}`),
    )
    .join(', ')
  const cols = shape.clauses.columns
  const fromSpan = shape.clauses.from
  if (!cols || !fromSpan) return plan
  const colsEnd = (shape.tokens[cols.end - 1] as Token).end
  // Hidden columns go last so that `ORDER BY 2` keeps meaning the user's second column.
  plan.innerSql = `${sql.slice(0, colsEnd)}, ${hiddenCols}${sql.slice(colsEnd)}`
  if (plan.maintenance === 'incremental') {
    plan.head = `SELECT ${spanText(sql, shape.tokens, cols)}, ${hiddenCols}\nFROM ${spanText(sql, shape.tokens, fromSpan)}`
    plan.where = shape.clauses.where ? spanText(sql, shape.tokens, shape.clauses.where) : null
  }
  return plan
}

/**
 * Prepares the statements the plan derives from the user's text; a rewrite SQLite refuses or
 * reads differently (another column count) falls back to re-running the text as given.
 */
function verify(
  plan: QueryPlan,
  facts: QueryFacts,
  probe: QueryProbe,
  params: Record<string, SqlValue> | undefined,
): QueryPlan {
  if (plan.identity.kind !== 'pks') return plan
  try {
    const inner = probe.explain(plan.innerSql, params)
    if (inner.columns.length !== facts.columns.length + plan.hiddenCount) throw new Error('column count')
    const loops = plan.maintenance === 'incremental' ? loopObstacle(inner, plan.tables) : null
    if (loops !== null) return { ...plan, maintenance: 'rerun', rerunReason: loops, head: '', where: null }
    if (plan.maintenance === 'incremental') {
      plan.tables.forEach((t, ti) => {
        const keys: Record<string, SqlValue> = { ...params }
        t.pk.forEach((_, k) => (keys[`:__patina_k${k}`] = null))
        const r = probe.explain(restrictedSql(plan, ti, 1), keys)
        if (r.columns.length !== inner.columns.length) throw new Error('column count')
      })
    }
    return plan
  } catch (err) {
    return {
      ...plan,
      maintenance: 'rerun',
      rerunReason: `a query Patina could not rewrite (${(err as Error).message})`,
      identity: { kind: 'content' },
      tables: [],
      hiddenCount: 0,
      innerSql: plan.sql,
      head: '',
      where: null,
    }
  }
}

/**
 * SQL of an incremental plan's query restricted to `keyCount` primary keys of table
 * `tableIndex`, bound as `:__patina_k<n>` (row-major when the key has several columns).
 */
export function restrictedSql(plan: QueryPlan, tableIndex: number, keyCount: number): string {
  const t = plan.tables[tableIndex]
  if (!t || plan.maintenance !== 'incremental')
    throw new RangeError(`no table ${tableIndex} in an incremental plan`)
  let n = 0
  const ph = (): string => `:__patina_k${n++}`
  const cols = t.pk.map((pk) => `${quoteIdent(t.alias)}.${quoteIdent(pk)}`)
  let cond: string
  if (cols.length === 1) {
    const list: string[] = []
    for (let k = 0; k < keyCount; k++) list.push(ph())
    cond = `${cols[0]} IN (${list.join(',')})`
  } else {
    const rows: string[] = []
    for (let k = 0; k < keyCount; k++) rows.push(`(${cols.map(ph).join(',')})`)
    cond = `(${cols.join(',')}) IN (VALUES ${rows.join(',')})`
  }
  // Newlines keep a `--` comment inside the user's text from swallowing what follows.
  return plan.where !== null
    ? `${plan.head}\nWHERE (${plan.where}\n) AND ${cond}`
    : `${plan.head}\nWHERE ${cond}`
}

/** Whether a changed row can affect the subscription (a table it reads, and a column it names or the row itself). */
export function isRelevant(plan: QueryPlan, row: RowChange): boolean {
  const cols = plan.columns.get(row.table)
  if (cols === undefined) return false
  if (cols === 'all') return true
  for (const c of row.cids) if (c === SENTINEL || cols.has(c)) return true
  return false
}
