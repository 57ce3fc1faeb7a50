import { identName, isKeyword, stringValue, tokenize, type Token } from '../sql/lexer.js'

/**
 * The shape of a query as its tokens show it: where the top-level clauses of its first
 * SELECT start and end, and what it contains (subqueries, compound parts, function calls,
 * wildcards). Pure and exact about tokens; what the query *means* is asked of SQLite (see
 * `facts.ts`), and every decision that matters for correctness checks both.
 */
export type ClauseName = 'columns' | 'from' | 'where' | 'groupBy' | 'having' | 'window' | 'orderBy' | 'limit'

/** A token range `[start, end)` of a clause's body (its keywords excluded). */
export interface Span {
  start: number
  end: number
}

export interface Call {
  /** Function name, lower-case. */
  name: string
  /** Index of the name token. */
  at: number
  /** Number of arguments (0 for `f()` and `count(*)`). */
  argc: number
  /** Whether `OVER` follows the call (a window function). */
  over: boolean
  /** Whether the call is inside a subquery. */
  inSubquery: boolean
  /** The top-level clause the call is in (null inside a compound part after the first). */
  clause: ClauseName | null
}

export interface SelectShape {
  tokens: Token[]
  /** First keyword, upper-case (`SELECT`, `WITH`, `VALUES`, ...). */
  leading: string
  /** `SELECT DISTINCT` at top level. */
  distinct: boolean
  /** The first compound operator at top level (`UNION`, `UNION ALL`, `INTERSECT`, `EXCEPT`), or null. */
  compound: string | null
  /** Clauses of the first top-level SELECT. */
  clauses: Partial<Record<ClauseName, Span>>
  /** Number of subqueries (a parenthesis opening with SELECT, WITH or VALUES) anywhere. */
  subqueries: number
  /** A `NATURAL` join anywhere. */
  natural: boolean
  /** A `*` or `t.*` wildcard anywhere. */
  wildcard: boolean
  calls: Call[]
  /** Names of every word and quoted identifier, lower-case (what the query can refer to). */
  names: Set<string>
  /** Values of every string literal. */
  strings: string[]
}

const CLAUSE_KEYWORDS: Record<string, ClauseName> = {
  FROM: 'from',
  WHERE: 'where',
  GROUP: 'groupBy',
  HAVING: 'having',
  WINDOW: 'window',
  ORDER: 'orderBy',
  LIMIT: 'limit',
}
const COMPOUND = new Set(['UNION', 'INTERSECT', 'EXCEPT'])
const NOT_CALLS = new Set([
  'IN',
  'EXISTS',
  'VALUES',
  'USING',
  'AS',
  'OVER',
  'FILTER',
  'ON',
  'AND',
  'OR',
  'NOT',
  'SELECT',
  'FROM',
  'WHERE',
  'JOIN',
  'BY',
  'WHEN',
  'THEN',
  'ELSE',
  'CASE',
  'IS',
  'LIKE',
  'GLOB',
  'REGEXP',
  'MATCH',
  'BETWEEN',
  'HAVING',
  'LIMIT',
  'OFFSET',
  'DISTINCT',
  'ALL',
  'WITH',
  'RECURSIVE',
  'MATERIALIZED',
])

/** Reads the shape of one SQL statement. */
export function readSelect(sql: string): SelectShape {
  const tokens = tokenize(sql)
  const first = tokens[0]
  const shape: SelectShape = {
    tokens,
    leading: first?.kind === 'word' ? first.text.toUpperCase() : '',
    distinct: false,
    compound: null,
    clauses: {},
    subqueries: 0,
    natural: false,
    wildcard: false,
    calls: [],
    names: new Set(),
    strings: [],
  }
  // Stack of open parentheses: whether each opens a subquery, and the call it belongs to.
  const stack: { subquery: boolean; call: Call | null; commas: number; ordered: boolean }[] = []
  const inSubquery = (): boolean => stack.some((p) => p.subquery)
  let clause: ClauseName | null = shape.leading === 'SELECT' ? 'columns' : null
  let clauseStart = 1
  const close = (end: number): void => {
    if (clause !== null && shape.clauses[clause] === undefined)
      shape.clauses[clause] = { start: clauseStart, end }
  }
  if (isKeyword(tokens[1], 'DISTINCT') && shape.leading === 'SELECT') {
    shape.distinct = true
    clauseStart = 2
  } else if (isKeyword(tokens[1], 'ALL') && shape.leading === 'SELECT') clauseStart = 2

  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as Token
    const up = t.kind === 'word' ? t.text.toUpperCase() : ''
    const name = identName(t)
    if (name !== null) shape.names.add(name.toLowerCase())
    const str = stringValue(t)
    if (str !== null) shape.strings.push(str)
    if (up === 'NATURAL') shape.natural = true
    if (t.kind === 'punct' && t.text === '*') {
      const prev = tokens[i - 1]
      const p = prev?.kind === 'word' ? prev.text.toUpperCase() : (prev?.text ?? '')
      if (['SELECT', 'DISTINCT', 'ALL', ',', '.'].includes(p)) shape.wildcard = true
    }
    if (t.kind === 'punct' && t.text === '(') {
      const next = tokens[i + 1]
      const subquery = isKeyword(next, 'SELECT') || isKeyword(next, 'WITH') || isKeyword(next, 'VALUES')
      if (subquery) shape.subqueries++
      const prev = tokens[i - 1]
      let call: Call | null = null
      if (prev?.kind === 'word' && !NOT_CALLS.has(prev.text.toUpperCase()) && !subquery) {
        call = {
          name: prev.text.toLowerCase(),
          at: i - 1,
          argc: 0,
          over: false,
          inSubquery: inSubquery(),
          clause: stack.length === 0 || !inSubquery() ? clause : null,
        }
        shape.calls.push(call)
      }
      stack.push({ subquery, call, commas: 0, ordered: false })
      continue
    }
    if (t.kind === 'punct' && t.text === ')') {
      const p = stack.pop()
      if (p?.call) {
        const inner = tokens.slice(p.call.at + 2, i)
        const empty = inner.length === 0 || (inner.length === 1 && inner[0]?.text === '*')
        p.call.argc = empty ? 0 : p.commas + 1
        let j = i + 1
        if (isKeyword(tokens[j], 'FILTER') && tokens[j + 1]?.text === '(') {
          j = matching(tokens, j + 1) + 1
        }
        p.call.over = isKeyword(tokens[j], 'OVER')
      }
      continue
    }
    const top = stack[stack.length - 1]
    if (top !== undefined) {
      if (t.kind === 'punct' && t.text === ',' && !top.ordered) top.commas++
      else if (up === 'ORDER' && top.call !== null) top.ordered = true
      continue
    }
    // Depth 0 from here on.
    if (COMPOUND.has(up)) {
      if (shape.compound === null) {
        close(i)
        shape.compound = isKeyword(tokens[i + 1], 'ALL') ? `${up} ALL` : up
      }
      clause = null
      continue
    }
    if (shape.compound !== null || clause === null) continue
    const next = CLAUSE_KEYWORDS[up]
    if (next === undefined) continue
    if (next === 'from' && (shape.clauses.from !== undefined || clause !== 'columns')) continue
    if (next === 'from' && isKeyword(tokens[i - 1], 'DISTINCT')) continue // IS [NOT] DISTINCT FROM
    if ((next === 'groupBy' || next === 'orderBy') && !isKeyword(tokens[i + 1], 'BY')) continue
    if (shape.clauses[next] !== undefined || next === clause) continue
    close(i)
    clause = next
    clauseStart = next === 'groupBy' || next === 'orderBy' ? i + 2 : i + 1
  }
  if (shape.compound === null) close(tokens.length)
  return shape
}

/** Index of the parenthesis closing the one at `open`. */
export function matching(tokens: Token[], open: number): number {
  let depth = 0
  for (let i = open; i < tokens.length; i++) {
    const t = (tokens[i] as Token).text
    if ((tokens[i] as Token).kind !== 'punct') continue
    if (t === '(') depth++
    else if (t === ')') {
      depth--
      if (depth === 0) return i
    }
  }
  return tokens.length - 1
}

/** Splits a token span at top-level commas into item spans. */
export function splitCommas(tokens: Token[], span: Span): Span[] {
  const out: Span[] = []
  let depth = 0
  let start = span.start
  for (let i = span.start; i < span.end; i++) {
    const t = tokens[i] as Token
    if (t.kind !== 'punct') continue
    if (t.text === '(') depth++
    else if (t.text === ')') depth--
    else if (t.text === ',' && depth === 0) {
      out.push({ start, end: i })
      start = i + 1
    }
  }
  if (span.end > start) out.push({ start, end: span.end })
  return out
}

/** Source text of a token span (empty for an empty span). */
export function spanText(sql: string, tokens: Token[], span: Span): string {
  const a = tokens[span.start]
  const b = tokens[span.end - 1]
  return a && b && span.end > span.start ? sql.slice(a.start, b.end) : ''
}
