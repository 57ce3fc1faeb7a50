/**
 * The one SQLite lexer of Patina. It finds token boundaries and nothing more: strings,
 * quoted identifiers (`"…"`, `` `…` ``, `[…]`), blobs, numbers, parameters, comments and
 * punctuation, so that callers can split statements, find top-level clauses or name the
 * columns a query mentions without ever cutting through a string or a comment. It never
 * decides what a statement means: SQLite does (see `store/query-probe.ts`).
 */
export type TokenKind = 'word' | 'ident' | 'string' | 'blob' | 'number' | 'param' | 'punct' | 'comment'

export interface Token {
  kind: TokenKind
  /** Offset of the first character in the source text. */
  start: number
  /** Offset after the last character. */
  end: number
  text: string
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/
const WORD = /[A-Za-z0-9_$\u0080-\uffff]/
const DIGIT = /[0-9]/
const SPACE = /\s/

/**
 * Splits SQL text into tokens. Whitespace is dropped; comments are kept as `comment` tokens
 * only when `comments` is true. An unterminated string, identifier or comment runs to the end
 * of the text (SQLite reports the error when it prepares the statement).
 */
export function tokenize(sql: string, opts: { comments?: boolean } = {}): Token[] {
  const out: Token[] = []
  const n = sql.length
  let i = 0
  const push = (kind: TokenKind, start: number): void => {
    out.push({ kind, start, end: i, text: sql.slice(start, i) })
  }
  /** Skips a quoted run closed by `close`, where a doubled `close` stands for itself. */
  const quoted = (close: string): void => {
    i++
    while (i < n) {
      if (sql[i] === close) {
        if (sql[i + 1] === close) i += 2
        else {
          i++
          return
        }
      } else i++
    }
  }
  while (i < n) {
    const c = sql[i] as string
    const start = i
    if (SPACE.test(c)) {
      i++
    } else if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i)
      i = nl === -1 ? n : nl
      if (opts.comments) push('comment', start)
    } else if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2)
      i = close === -1 ? n : close + 2
      if (opts.comments) push('comment', start)
    } else if ((c === 'x' || c === 'X') && sql[i + 1] === "'") {
      i++
      quoted("'")
      push('blob', start)
    } else if (c === "'") {
      quoted("'")
      push('string', start)
    } else if (c === '"' || c === '`') {
      quoted(c)
      push('ident', start)
    } else if (c === '[') {
      const close = sql.indexOf(']', i)
      i = close === -1 ? n : close + 1
      push('ident', start)
    } else if (DIGIT.test(c) || (c === '.' && DIGIT.test(sql[i + 1] ?? ''))) {
      if (c === '0' && (sql[i + 1] === 'x' || sql[i + 1] === 'X')) {
        i += 2
        while (i < n && /[0-9A-Fa-f_]/.test(sql[i] as string)) i++
      } else {
        while (i < n && /[0-9_.]/.test(sql[i] as string)) i++
        if ((sql[i] === 'e' || sql[i] === 'E') && /[-+0-9]/.test(sql[i + 1] ?? '')) {
          i += 2
          while (i < n && DIGIT.test(sql[i] as string)) i++
        }
      }
      push('number', start)
    } else if (c === '?') {
      i++
      while (i < n && DIGIT.test(sql[i] as string)) i++
      push('param', start)
    } else if ((c === ':' || c === '@' || c === '$') && WORD.test(sql[i + 1] ?? '')) {
      i++
      while (i < n && (WORD.test(sql[i] as string) || (sql[i] === ':' && sql[i + 1] === ':'))) {
        i += sql[i] === ':' ? 2 : 1
      }
      push('param', start)
    } else if (WORD_START.test(c)) {
      while (i < n && WORD.test(sql[i] as string)) i++
      push('word', start)
    } else {
      i++
      push('punct', start)
    }
  }
  return out
}

/**
 * The name a word or quoted-identifier token stands for (`"a""b"` → `a"b`, `[x]` → `x`), or
 * null for any other token.
 */
export function identName(t: Token): string | null {
  if (t.kind === 'word') return t.text
  if (t.kind !== 'ident') return null
  const q = t.text[0]
  if (q === '[') return t.text.slice(1, t.text.endsWith(']') ? -1 : undefined)
  const body = t.text.slice(1, t.text.length > 1 && t.text.endsWith(q as string) ? -1 : undefined)
  return body.split((q as string) + (q as string)).join(q)
}

/** The value of a string token (`'it''s'` → `it's`), or null for any other token. */
export function stringValue(t: Token): string | null {
  if (t.kind !== 'string') return null
  return t.text
    .slice(1, t.text.length > 1 && t.text.endsWith("'") ? -1 : undefined)
    .split("''")
    .join("'")
}

/** Whether a token is the keyword `kw` (case-insensitive; quoted identifiers never are). */
export function isKeyword(t: Token | undefined, kw: string): boolean {
  return t !== undefined && t.kind === 'word' && t.text.toUpperCase() === kw
}

/** The statement without leading/trailing comments, whitespace and trailing semicolons. */
export function trimStatement(sql: string): string {
  const toks = tokenize(sql)
  let first = 0
  let last = toks.length - 1
  while (first <= last && (toks[first] as Token).text === ';') first++
  while (last >= first && (toks[last] as Token).text === ';') last--
  if (last < first) return ''
  return sql.slice((toks[first] as Token).start, (toks[last] as Token).end)
}

/** Double-quotes an identifier for SQLite. */
export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"'
}
