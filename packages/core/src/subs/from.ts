import { identName, isKeyword, type Token } from '../sql/lexer.js'
import type { Span } from './select.js'

/** One entry of a FROM clause that names a table. */
export interface FromEntry {
  /** Schema qualifier as written (`main`), or null. */
  schema: string | null
  /** Table name as written. */
  table: string
  /** Alias as written, or null. */
  alias: string | null
  /** How it joins the entries before it (`root` for the first). */
  join: 'root' | 'inner' | 'left' | 'right' | 'full'
  natural: boolean
  /** Token span of its `ON` expression, or null. */
  on: Span | null
  /** Columns of its `USING (...)`, or null. */
  using: string[] | null
}

export type FromResult = { ok: true; entries: FromEntry[] } | { ok: false; reason: string }

const JOIN_WORDS = new Set(['NATURAL', 'LEFT', 'RIGHT', 'FULL', 'INNER', 'CROSS', 'OUTER', 'JOIN'])
const AFTER_TABLE = new Set([...JOIN_WORDS, 'ON', 'USING', 'INDEXED', 'NOT', 'AS'])

/**
 * Reads a FROM clause made of tables joined by commas and `[NATURAL] [LEFT|INNER|CROSS|RIGHT|FULL
 * [OUTER]] JOIN` with `ON` or `USING` constraints. Anything else (a subquery, a parenthesised
 * join, a table-valued function) is reported, not guessed at.
 */
export function readFrom(tokens: Token[], span: Span): FromResult {
  const entries: FromEntry[] = []
  let i = span.start
  const at = (k: number): Token | undefined => (k < span.end ? tokens[k] : undefined)
  const fail = (reason: string): FromResult => ({ ok: false, reason })
  let join: FromEntry['join'] = 'root'
  let natural = false
  while (i < span.end) {
    const t = at(i) as Token
    if (t.kind === 'punct' && t.text === '(') {
      const next = at(i + 1)
      return fail(
        isKeyword(next, 'SELECT') || isKeyword(next, 'WITH') || isKeyword(next, 'VALUES')
          ? 'a subquery in FROM'
          : 'a parenthesised join in FROM',
      )
    }
    let name = identName(t)
    if (name === null) return fail(`${JSON.stringify(t.text)} in FROM`)
    let schema: string | null = null
    i++
    if (at(i)?.text === '.' && at(i)?.kind === 'punct') {
      const tn = at(i + 1)
      const n2 = tn ? identName(tn) : null
      if (n2 === null) return fail('a malformed table name in FROM')
      schema = name
      name = n2
      i += 2
    }
    if (at(i)?.kind === 'punct' && at(i)?.text === '(') return fail(`the table-valued function ${name}()`)
    let alias: string | null = null
    if (isKeyword(at(i), 'AS')) {
      const a = at(i + 1)
      alias = a ? identName(a) : null
      if (alias === null) return fail('a malformed alias in FROM')
      i += 2
    } else {
      const a = at(i)
      if (a && (a.kind === 'ident' || (a.kind === 'word' && !AFTER_TABLE.has(a.text.toUpperCase())))) {
        alias = identName(a)
        i++
      }
    }
    if (isKeyword(at(i), 'INDEXED') && isKeyword(at(i + 1), 'BY')) i += 3
    else if (isKeyword(at(i), 'NOT') && isKeyword(at(i + 1), 'INDEXED')) i += 2
    const entry: FromEntry = { schema, table: name, alias, join, natural, on: null, using: null }
    if (isKeyword(at(i), 'ON')) {
      const start = ++i
      let depth = 0
      while (i < span.end) {
        const x = at(i) as Token
        if (x.kind === 'punct' && x.text === '(') depth++
        else if (x.kind === 'punct' && x.text === ')') depth--
        else if (
          depth === 0 &&
          ((x.kind === 'punct' && x.text === ',') ||
            (x.kind === 'word' && JOIN_WORDS.has(x.text.toUpperCase())))
        )
          break
        i++
      }
      entry.on = { start, end: i }
    } else if (isKeyword(at(i), 'USING')) {
      if (at(i + 1)?.text !== '(') return fail('a malformed USING clause')
      const cols: string[] = []
      i += 2
      while (i < span.end && at(i)?.text !== ')') {
        const c = at(i) as Token
        const n = identName(c)
        if (n !== null) cols.push(n)
        else if (c.text !== ',') return fail('a malformed USING clause')
        i++
      }
      i++
      entry.using = cols
    }
    entries.push(entry)
    if (i >= span.end) break
    // The operator joining the next entry.
    const op = at(i) as Token
    natural = false
    if (op.kind === 'punct' && op.text === ',') {
      join = 'inner'
      i++
      continue
    }
    const words: string[] = []
    while (
      i < span.end &&
      (at(i) as Token).kind === 'word' &&
      JOIN_WORDS.has((at(i) as Token).text.toUpperCase())
    ) {
      words.push((at(i) as Token).text.toUpperCase())
      i++
      if (words[words.length - 1] === 'JOIN') break
    }
    if (words[words.length - 1] !== 'JOIN') return fail(`${JSON.stringify(op.text)} after a table in FROM`)
    natural = words.includes('NATURAL')
    join = words.includes('LEFT')
      ? 'left'
      : words.includes('RIGHT')
        ? 'right'
        : words.includes('FULL')
          ? 'full'
          : 'inner'
  }
  if (entries.length === 0) return fail('an empty FROM clause')
  for (const [k, e] of entries.entries()) e.natural = k > 0 && e.natural
  return { ok: true, entries }
}
