import { tokenize, type Token } from '../sql/lexer.js'

/**
 * Split SQL text into statements on `;`, honouring quotes ('', "", ``, []) and
 * comments (-- and /* *\/). Empty statements are dropped. This is a lexer, not a
 * parser: SQLite itself validates each statement afterwards.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = []
  let start = 0
  for (const t of tokenize(sql)) {
    if (t.kind === 'punct' && t.text === ';') {
      out.push(sql.slice(start, t.start))
      start = t.end
    }
  }
  out.push(sql.slice(start))
  return out.map((s) => s.trim()).filter((s) => stripComments(s).trim().length > 0)
}

/** Remove comments (outside quotes) from one statement; each comment becomes one space. */
export function stripComments(sql: string): string {
  let out = ''
  let at = 0
  for (const t of tokenize(sql, { comments: true }) as Token[]) {
    if (t.kind !== 'comment') continue
    out += sql.slice(at, t.start) + ' '
    at = t.end
  }
  return out + sql.slice(at)
}

/** The first keyword of a statement, upper-cased (comments skipped). */
export function leadingKeyword(sql: string): string {
  const m = /^[\s(]*([A-Za-z]+)/.exec(stripComments(sql))
  return m ? (m[1] as string).toUpperCase() : ''
}
