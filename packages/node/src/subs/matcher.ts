import { createRequire } from 'node:module'
import type * as NodeSqlParser from 'node-sql-parser'
import { PatinaError, type SqlValue } from '@patina/api'
import type { RowChange, SchemaModel, Statement } from '@patina/core'
import { SENTINEL } from '@patina/core'
import { quoteIdent, splitSelect, tokenize, trimStatement } from './sql-text.js'

type ParserModule = typeof NodeSqlParser
// node-sql-parser is CommonJS without ESM named exports.
const { Parser } = createRequire(import.meta.url)('node-sql-parser') as ParserModule
const parser = new Parser()

/** One table of a subscription's FROM clause; `tables[0]` is the root (leftmost) table. */
export interface PlanTable {
  /** Name used to qualify its columns in the query (alias, or table name). */
  alias: string
  table: string
  pk: string[]
  join: 'root' | 'inner' | 'left'
  /** Index of its first hidden pk column in the rewritten query's result. */
  hiddenOffset: number
}

/**
 * What the hub needs to maintain a subscription incrementally (the pure part of the
 * matcher, Corrosion's `Matcher::new`).
 *
 * Every result row of a supported query is identified by the primary keys of all its FROM
 * tables, and which rows exist for a given root-table row depends on that root row only (no
 * aggregates, DISTINCT, LIMIT, compound selects or subqueries; inner and left joins only).
 * So when rows of table T change, the affected result rows are those whose root row is joined
 * to a changed T row, before (found in the stored rows) or after (found by re-running the
 * query restricted to T's changed keys); re-running the query restricted to those root keys
 * and diffing against the stored rows for them gives exact changes, at a cost proportional
 * to the rows touched.
 */
export interface QueryPlan {
  /** The statement as given, trimmed of comments and trailing semicolons. */
  sql: string
  tables: PlanTable[]
  /** Referenced columns per table name (all aliases of it merged); `'all'` for `*`. */
  columns: Map<string, Set<string> | 'all'>
  /** Number of hidden pk columns prepended to the result. */
  hiddenCount: number
  /** The query with every table's pk columns prepended as hidden columns (ORDER BY kept). */
  innerSql: string
  /** `SELECT <hidden>, <columns> FROM <from>` of the user's text. */
  head: string
  /** The user's WHERE expression, or null. */
  where: string | null
  /** Whether the query has a root ORDER BY (honoured by snapshots, not by changes). */
  hasOrderBy: boolean
}

function unsupported(construct: string): PatinaError {
  return new PatinaError(
    'PATINA_ERR_SUBSCRIPTION_UNSUPPORTED',
    `${construct} cannot be maintained incrementally in a subscription; subscribe to a SELECT over tables of the schema with inner or left joins, any WHERE and ORDER BY`,
  )
}

type Node = Record<string, unknown>

function isNode(v: unknown): v is Node {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** Walks every object of an AST subtree. */
function walk(v: unknown, visit: (n: Node) => void): void {
  if (Array.isArray(v)) {
    for (const x of v) walk(x, visit)
  } else if (isNode(v)) {
    visit(v)
    for (const x of Object.values(v)) walk(x, visit)
  }
}

function columnName(c: unknown): string | null {
  if (typeof c === 'string') return c
  if (isNode(c) && isNode(c['expr']) && typeof c['expr']['value'] === 'string') return c['expr']['value']
  return null
}

/**
 * Rewrites positional `?` parameters to named ones (`:__patina_p<n>`) so that the hub can
 * rearrange clauses without shifting them, and returns the parameters as a record.
 */
export function normalizeParams(
  sql: string,
  params: Statement['params'],
): { sql: string; params: Record<string, SqlValue> | undefined } {
  const toks = tokenize(sql).filter((t) => t.kind === 'param')
  const positional = toks.filter((t) => t.text === '?')
  if (toks.some((t) => /^\?\d+$/.test(t.text))) throw unsupported('a numbered parameter (?NNN)')
  if (positional.length > 0 && positional.length !== toks.length) {
    throw unsupported('a mix of positional (?) and named parameters')
  }
  if (positional.length === 0) {
    if (Array.isArray(params) && params.length > 0) {
      throw new PatinaError(
        'PATINA_ERR_PARAM_INVALID',
        `the query has no ? parameter but ${params.length} were given`,
      )
    }
    return { sql, params: Array.isArray(params) ? undefined : params }
  }
  if (params !== undefined && !Array.isArray(params)) {
    throw new PatinaError(
      'PATINA_ERR_PARAM_INVALID',
      'the query uses positional (?) parameters but named ones were given',
    )
  }
  const values = params ?? []
  if (values.length !== positional.length) {
    throw new PatinaError(
      'PATINA_ERR_PARAM_INVALID',
      `the query has ${positional.length} positional parameter(s) but ${values.length} value(s) were given`,
    )
  }
  let out = ''
  let at = 0
  const rec: Record<string, SqlValue> = {}
  positional.forEach((t, i) => {
    out += sql.slice(at, t.start) + `:__patina_p${i + 1}`
    at = t.end
    rec[`:__patina_p${i + 1}`] = values[i] ?? null
  })
  return { sql: out + sql.slice(at), params: rec }
}

/**
 * Builds the plan of a subscription query, refusing with `PATINA_ERR_SUBSCRIPTION_UNSUPPORTED`
 * (naming the construct) what cannot be maintained, and with `PATINA_ERR_UNKNOWN_TABLE` a
 * table that is not a replicated table of `schema`. Parameters come back named (see
 * {@link normalizeParams}).
 */
export function planSubscription(
  rawSql: string,
  rawParams: Statement['params'],
  schema: SchemaModel,
): { plan: QueryPlan; params: Record<string, SqlValue> | undefined } {
  const trimmed = trimStatement(rawSql)
  if (trimmed === '') throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', 'subscription SQL is empty')
  const { sql, params } = normalizeParams(trimmed, rawParams)
  let ast: unknown
  try {
    ast = parser.astify(sql, { database: 'sqlite' })
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err)
    throw new PatinaError('PATINA_ERR_SUBSCRIPTION_UNSUPPORTED', `could not parse subscription query: ${msg}`)
  }
  if (Array.isArray(ast)) {
    if (ast.length !== 1) throw unsupported(`a request of ${ast.length} statements`)
    ast = ast[0]
  }
  if (!isNode(ast) || ast['type'] !== 'select') {
    throw unsupported(`a ${isNode(ast) ? String(ast['type']).toUpperCase() : 'non-SELECT'} statement`)
  }
  const sel = ast
  if (sel['with']) throw unsupported('a common table expression (WITH)')
  if (sel['_next'] || sel['set_op'])
    throw unsupported(`a compound SELECT (${String(sel['set_op'] ?? 'UNION').toUpperCase()})`)
  if (sel['distinct']) throw unsupported(`SELECT ${String(sel['distinct']).toUpperCase()}`)
  if (sel['groupby']) throw unsupported('GROUP BY')
  if (sel['having']) throw unsupported('HAVING')
  const limit = sel['limit']
  if (isNode(limit) && Array.isArray(limit['value']) && limit['value'].length > 0)
    throw unsupported('LIMIT/OFFSET')
  if (sel['window']) throw unsupported('a WINDOW clause')

  const from = sel['from']
  if (!Array.isArray(from) || from.length === 0) {
    throw new PatinaError(
      'PATINA_ERR_SUBSCRIPTION_UNSUPPORTED',
      'a subscription needs at least one table in FROM',
    )
  }

  // Refuse subqueries, aggregates and window functions anywhere.
  walk(sel, (n) => {
    if (n === sel) return
    if ('ast' in n && isNode(n['ast'])) throw unsupported('a subquery')
    if (n['type'] === 'aggr_func') throw unsupported(`the aggregate function ${String(n['name'])}()`)
    if (n['type'] === 'function' && n['over']) throw unsupported('a window function (OVER)')
  })

  const tables: PlanTable[] = []
  let hidden = 0
  let sawLeft = false
  for (const [i, f] of from.entries()) {
    if (!isNode(f) || typeof f['table'] !== 'string' || f['expr']) {
      throw unsupported('a subquery or table-valued function in FROM')
    }
    const db = f['db']
    if (db !== null && db !== undefined && db !== 'main')
      throw unsupported(`a table of attached database ${String(db)}`)
    const name = f['table']
    const model =
      schema.tables.get(name) ??
      [...schema.tables.values()].find((t) => t.name.toLowerCase() === name.toLowerCase())
    if (!model) {
      throw new PatinaError(
        'PATINA_ERR_UNKNOWN_TABLE',
        `table ${JSON.stringify(name)} is not a table of the schema`,
      )
    }
    if (model.pk.length === 0) {
      throw new PatinaError('PATINA_ERR_SUBSCRIPTION_UNSUPPORTED', `table ${model.name} has no primary key`)
    }
    let join: PlanTable['join'] = 'inner'
    if (i === 0) join = 'root'
    else {
      const j = typeof f['join'] === 'string' ? f['join'].toUpperCase() : ''
      if (j === '' || j === 'JOIN' || j === 'INNER JOIN' || j === 'CROSS JOIN') join = 'inner'
      else if (j === 'LEFT JOIN' || j === 'LEFT OUTER JOIN') join = 'left'
      else throw unsupported(`a ${j}`)
    }
    // An inner join after a left join filters NULL-extended rows by rows they do not
    // contain, which the key-restricted re-evaluation cannot see.
    if (join === 'inner' && sawLeft)
      throw unsupported(`an inner join (of ${name}) after a left join; put inner joins first`)
    if (join === 'left') sawLeft = true
    const alias = typeof f['as'] === 'string' && f['as'] !== '' ? f['as'] : name
    tables.push({ alias, table: model.name, pk: [...model.pk], join, hiddenOffset: hidden })
    hidden += model.pk.length
  }

  // Referenced columns per table.
  const columns = new Map<string, Set<string> | 'all'>()
  for (const t of tables) if (!columns.has(t.table)) columns.set(t.table, new Set())
  const addCol = (table: string, col: string): void => {
    const cur = columns.get(table)
    if (cur === 'all') return
    if (col === '*') columns.set(table, 'all')
    else if (cur) cur.add(col)
  }
  const byAlias = (q: string): PlanTable | undefined =>
    tables.find((t) => t.alias === q) ?? tables.find((t) => t.alias.toLowerCase() === q.toLowerCase())
  const canonical = (t: PlanTable, col: string): string | undefined => {
    const model = schema.tables.get(t.table)
    const c = model?.columns.find((x) => x.name.toLowerCase() === col.toLowerCase())?.name
    if (c !== undefined) return c
    // A generated column is computed from other columns of its row: any change of the row
    // may change it, so it depends on the whole row.
    return model?.generated?.some((g) => g.name.toLowerCase() === col.toLowerCase()) ? '*' : undefined
  }
  /** Tables (of the plan) a column reference may denote. */
  const resolve = (qualifier: string | null, col: string): { t: PlanTable; col: string }[] => {
    if (qualifier !== null) {
      const t = byAlias(qualifier)
      if (!t) return []
      if (col === '*') return [{ t, col }]
      const c = canonical(t, col)
      return c ? [{ t, col: c }] : []
    }
    if (col === '*') return tables.map((t) => ({ t, col }))
    return tables.flatMap((t) => {
      const c = canonical(t, col)
      return c ? [{ t, col: c }] : []
    })
  }
  const refsOf = (v: unknown): { t: PlanTable; col: string }[] => {
    const out: { t: PlanTable; col: string }[] = []
    walk(v, (n) => {
      if (n['type'] === 'column_ref') {
        const col = columnName(n['column'])
        if (col === null) return
        const q = typeof n['table'] === 'string' && n['table'] !== '' ? n['table'] : null
        out.push(...resolve(q, col))
      } else if (n['type'] === 'double_quote_string' || n['type'] === 'backticks_quote_string') {
        // SQLite reads a double-quoted string as a column name when one matches.
        if (typeof n['value'] === 'string') out.push(...resolve(null, n['value']))
      }
      if (Array.isArray(n['using'])) {
        for (const u of n['using']) {
          const col = columnName(u)
          if (col !== null) out.push(...resolve(null, col))
        }
      }
    })
    return out
  }
  for (const r of refsOf(sel)) addCol(r.t.table, r.col)
  for (const r of refsOf(sel['where'])) {
    if (r.t.join === 'left') {
      throw unsupported(
        `a WHERE condition on left-joined table ${r.t.alias} (column ${r.col}); put it in that LEFT JOIN's ON clause or use an inner join`,
      )
    }
  }

  const clauses = splitSelect(sql)
  if (!clauses) throw unsupported('this SELECT shape')
  const hiddenCols = tables
    .flatMap((t, ti) =>
      t.pk.map((pk, pi) => `${quoteIdent(t.alias)}.${quoteIdent(pk)} AS ${hiddenName(ti, pi)}`),
    )
    .join(', ')
  const head = `SELECT ${hiddenCols}, ${clauses.columns}\nFROM ${clauses.from}`
  const innerSql =
    head +
    (clauses.where !== null ? `\nWHERE ${clauses.where}` : '') +
    (clauses.orderBy !== null ? `\nORDER BY ${clauses.orderBy}` : '')
  const plan: QueryPlan = {
    sql,
    tables,
    columns,
    hiddenCount: hidden,
    innerSql,
    head,
    where: clauses.where,
    hasOrderBy: clauses.orderBy !== null,
  }
  return { plan, params }
}

export function hiddenName(tableIndex: number, pkIndex: number): string {
  return `__patina_pk_${tableIndex}_${pkIndex}`
}

/**
 * SQL of the plan's query restricted to `keyCount` primary keys of table `tableIndex`, bound
 * as `:__patina_k<n>` (row-major when the key has several columns).
 */
export function restrictedSql(plan: QueryPlan, tableIndex: number, keyCount: number): string {
  const t = plan.tables[tableIndex]
  if (!t) throw new RangeError(`no table ${tableIndex} in plan`)
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

/** Whether a changed row can affect the subscription (table used, and a referenced column or the row itself changed). */
export function isRelevant(plan: QueryPlan, row: RowChange): boolean {
  const cols = plan.columns.get(row.table)
  if (cols === undefined) return false
  if (cols === 'all') return true
  for (const c of row.cids) if (c === SENTINEL || cols.has(c)) return true
  return false
}
