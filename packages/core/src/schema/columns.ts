/**
 * Column definitions of a `CREATE TABLE` statement as text, for what SQLite's pragmas do not
 * say: the expression of a generated column. Pure: splits the column list at top-level commas,
 * skipping quotes, brackets and comments.
 */

const CONSTRAINT = /^(CONSTRAINT|PRIMARY|UNIQUE|CHECK|FOREIGN)\b/i

/** Unquotes an SQLite identifier ("x", `x`, [x], 'x' or x). */
export function unquoteIdent(s: string): string {
  const c = s.charAt(0)
  if (c === '"' || c === '`' || c === "'") return s.slice(1, -1).replaceAll(c + c, c)
  if (c === '[') return s.slice(1, -1)
  return s
}

/** The parts of the column list of `create` split at top-level commas, comments removed. */
function columnListParts(create: string): string[] {
  const parts: string[] = []
  let depth = 0
  let cur = ''
  let i = 0
  const n = create.length
  while (i < n) {
    const c = create.charAt(i)
    if (c === '-' && create.charAt(i + 1) === '-') {
      const nl = create.indexOf('\n', i)
      i = nl === -1 ? n : nl
      cur += ' '
      continue
    }
    if (c === '/' && create.charAt(i + 1) === '*') {
      const end = create.indexOf('*/', i + 2)
      i = end === -1 ? n : end + 2
      cur += ' '
      continue
    }
    if (c === "'" || c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c
      let j = i + 1
      for (;;) {
        const k = create.indexOf(close, j)
        if (k === -1) {
          j = n
          break
        }
        if (close !== ']' && create.charAt(k + 1) === close) {
          j = k + 2
          continue
        }
        j = k + 1
        break
      }
      if (depth >= 1) cur += create.slice(i, j)
      i = j
      continue
    }
    if (c === '(') {
      depth++
      if (depth === 1) {
        i++
        continue
      }
    } else if (c === ')') {
      depth--
      if (depth === 0) {
        parts.push(cur.trim())
        return parts
      }
    } else if (c === ',' && depth === 1) {
      parts.push(cur.trim())
      cur = ''
      i++
      continue
    }
    if (depth >= 1) cur += c
    i++
  }
  return parts
}

/** Column name → its whole definition text (`app_id INTEGER AS (...)`), in declaration order. */
export function columnDefinitions(create: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const part of columnListParts(create)) {
    if (part === '' || CONSTRAINT.test(part)) continue
    const m = /^("(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|'(?:[^']|'')*'|[^\s(]+)/.exec(part)
    if (m) out.set(unquoteIdent(m[1] as string), part.replace(/\s+/g, ' '))
  }
  return out
}
