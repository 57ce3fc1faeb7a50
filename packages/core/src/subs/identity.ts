import { identName, isKeyword, type Token } from '../sql/lexer.js'
import { splitCommas, type SelectShape, type Span } from './select.js'

/**
 * How a re-run subscription recognises "the same row" between two runs, so that a changed
 * row keeps its row id and becomes an `update`:
 * - `pks`: by the primary keys of its FROM tables (added to the query as hidden columns);
 * - `columns`: by these output columns (the GROUP BY terms of an aggregate; none for an
 *   aggregate without GROUP BY, which has at most one row);
 * - `content`: by all its cells (a changed row is a delete and an insert).
 * Equal identities within one result are told apart by their order of appearance.
 */
export type RowIdentity = { kind: 'pks' } | { kind: 'columns'; columns: number[] } | { kind: 'content' }

/** Normalised token text for comparing expressions. */
function norm(t: Token): string {
  const n = identName(t)
  if (n !== null) return 'n:' + n.toLowerCase()
  return t.kind + ':' + t.text
}

interface Item {
  expr: string
  alias: string | null
}

function items(tokens: Token[], span: Span): Item[] {
  return splitCommas(tokens, span).map((s) => {
    const toks = tokens.slice(s.start, s.end)
    let alias: string | null = null
    let exprToks = toks
    const asAt = toks.findIndex((t, k) => k > 0 && isKeyword(t, 'AS'))
    if (asAt > 0 && asAt === toks.length - 2) {
      alias = identName(toks[asAt + 1] as Token)
      exprToks = toks.slice(0, asAt)
    } else if (toks.length === 1) {
      alias = identName(toks[0] as Token)
    } else if (toks.length === 3 && toks[1]?.text === '.') {
      alias = identName(toks[2] as Token)
    }
    return { expr: exprToks.map(norm).join(' '), alias: alias?.toLowerCase() ?? null }
  })
}

/**
 * The output columns that identify a row of a GROUP BY query: each GROUP BY term must be an
 * output column (the same expression, its alias or its 1-based position). Null when one is
 * not, and the rows are then identified by content.
 */
export function groupColumns(shape: SelectShape): number[] | null {
  const { columns, groupBy } = shape.clauses
  if (!columns || !groupBy) return null
  const cols = items(shape.tokens, columns)
  const out = new Set<number>()
  for (const term of splitCommas(shape.tokens, groupBy)) {
    const toks = shape.tokens.slice(term.start, term.end)
    if (toks.length === 1 && toks[0]?.kind === 'number' && /^\d+$/.test(toks[0].text)) {
      const k = Number(toks[0].text) - 1
      if (k < 0 || k >= cols.length) return null
      out.add(k)
      continue
    }
    const expr = toks.map(norm).join(' ')
    const name = toks.length === 1 ? identName(toks[0] as Token)?.toLowerCase() : undefined
    let k = cols.findIndex((c) => c.expr === expr)
    if (k === -1 && name !== undefined) k = cols.findIndex((c) => c.alias === name)
    if (k === -1) return null
    out.add(k)
  }
  return [...out].sort((a, b) => a - b)
}
