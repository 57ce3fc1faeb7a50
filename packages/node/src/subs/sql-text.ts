/**
 * A minimal SQLite lexer, used only on a query the SQL parser has already accepted, to find
 * token boundaries: the top-level `SELECT … FROM … WHERE … ORDER BY …` clauses (so the hub
 * can splice the user's own text, keeping SQLite's exact semantics, into the queries it
 * derives) and the parameters. It understands strings, quoted identifiers, blobs and
 * comments so that it never splits inside them.
 */
export type TokenKind = 'word' | 'string' | 'ident' | 'param' | 'punct'

export interface Token {
  kind: TokenKind
  start: number
  end: number
  text: string
}

const WORD = /[A-Za-z0-9_\u0080-\uffff]/

export function tokenize(sql: string): Token[] {
  const out: Token[] = []
  let i = 0
  const n = sql.length
  const push = (kind: TokenKind, start: number): void => {
    out.push({ kind, start, end: i, text: sql.slice(start, i) })
  }
  while (i < n) {
    const c = sql[i] as string
    if (/\s/.test(c)) {
      i++
      continue
    }
    if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i)
      i = nl === -1 ? n : nl + 1
      continue
    }
    if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2)
      i = close === -1 ? n : close + 2
      continue
    }
    const start = i
    if (c === "'" || c === '"' || c === '`') {
      i++
      while (i < n) {
        if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2
          else {
            i++
            break
          }
        } else i++
      }
      push(c === "'" ? 'string' : 'ident', start)
    } else if (c === '[') {
      const close = sql.indexOf(']', i)
      i = close === -1 ? n : close + 1
      push('ident', start)
    } else if ((c === 'x' || c === 'X') && sql[i + 1] === "'") {
      i += 2
      while (i < n && sql[i] !== "'") i++
      i++
      push('string', start)
    } else if (c === '?') {
      i++
      while (i < n && /[0-9]/.test(sql[i] as string)) i++
      push('param', start)
    } else if ((c === ':' || c === '@' || c === '$') && WORD.test(sql[i + 1] ?? '')) {
      i++
      while (i < n && WORD.test(sql[i] as string)) i++
      push('param', start)
    } else if (WORD.test(c)) {
      while (i < n && WORD.test(sql[i] as string)) i++
      push('word', start)
    } else {
      i++
      push('punct', start)
    }
  }
  return out
}

/** The statement without leading/trailing comments, whitespace and trailing semicolons. */
export function trimStatement(sql: string): string {
  const toks = tokenize(sql).filter((t) => t.text !== ';')
  const first = toks[0]
  const last = toks[toks.length - 1]
  if (!first || !last) return ''
  return sql.slice(first.start, last.end)
}

/** Double-quotes an identifier for SQLite. */
export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"'
}

export interface SelectClauses {
  /** Text of the result columns (between SELECT and FROM). */
  columns: string
  from: string
  where: string | null
  orderBy: string | null
}

/**
 * Splits a simple SELECT (no subqueries, compound parts, GROUP BY or LIMIT: the caller's
 * parser checked) into its clauses at paren depth 0. Returns null when the text does not
 * have that shape.
 */
export function splitSelect(sql: string): SelectClauses | null {
  const toks = tokenize(sql)
  if (toks[0]?.kind !== 'word' || toks[0].text.toUpperCase() !== 'SELECT') return null
  let depth = 0
  let fromAt = -1
  let whereAt = -1
  let orderAt = -1
  for (let i = 1; i < toks.length; i++) {
    const t = toks[i] as Token
    if (t.kind === 'punct') {
      if (t.text === '(') depth++
      else if (t.text === ')') depth--
      continue
    }
    if (depth !== 0 || t.kind !== 'word') continue
    const up = t.text.toUpperCase()
    const prev = toks[i - 1]?.text.toUpperCase()
    if (up === 'FROM' && fromAt === -1 && prev !== 'DISTINCT') fromAt = i
    else if (up === 'WHERE' && fromAt !== -1 && whereAt === -1) whereAt = i
    else if (up === 'ORDER' && fromAt !== -1 && toks[i + 1]?.text.toUpperCase() === 'BY') orderAt = i
    else if (['GROUP', 'HAVING', 'LIMIT', 'UNION', 'INTERSECT', 'EXCEPT', 'WINDOW'].includes(up)) return null
  }
  if (fromAt === -1) return null
  const slice = (a: number, b: number): string => {
    const s = toks[a]
    const e = toks[b - 1]
    return s && e && b > a ? sql.slice(s.start, e.end) : ''
  }
  const fromEnd = whereAt !== -1 ? whereAt : orderAt !== -1 ? orderAt : toks.length
  const whereEnd = orderAt !== -1 ? orderAt : toks.length
  const columns = slice(1, fromAt)
  const from = slice(fromAt + 1, fromEnd)
  if (columns === '' || from === '') return null
  return {
    columns,
    from,
    where: whereAt !== -1 ? slice(whereAt + 1, whereEnd) : null,
    orderBy: orderAt !== -1 ? slice(orderAt + 2, toks.length) : null,
  }
}
