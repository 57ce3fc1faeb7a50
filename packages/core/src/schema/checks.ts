/**
 * The CHECK constraints of a `CREATE TABLE` statement, as text: what SQLite's pragmas do not
 * report. Pure: a lexer that skips quoted strings, quoted identifiers and comments, and returns
 * the parenthesised expression after every `CHECK` keyword (column and table constraints alike;
 * `CHECK` is a reserved word, so outside quotes it is always a constraint).
 */
export function checkConstraints(createSql: string): string[] {
  const out: string[] = []
  const s = createSql
  const n = s.length
  let i = 0
  const skipQuoted = (at: number): number => {
    const open = s.charAt(at)
    const close = open === '[' ? ']' : open
    let j = at + 1
    for (;;) {
      const k = s.indexOf(close, j)
      if (k === -1) return n
      if (close !== ']' && s.charAt(k + 1) === close) {
        j = k + 2
        continue
      }
      return k + 1
    }
  }
  const skipSpaceAndComments = (at: number): number => {
    let j = at
    for (;;) {
      while (j < n && /\s/.test(s.charAt(j))) j++
      if (s.startsWith('--', j)) {
        const nl = s.indexOf('\n', j)
        j = nl === -1 ? n : nl + 1
      } else if (s.startsWith('/*', j)) {
        const end = s.indexOf('*/', j + 2)
        j = end === -1 ? n : end + 2
      } else return j
    }
  }
  while (i < n) {
    const c = s.charAt(i)
    if (c === "'" || c === '"' || c === '`' || c === '[') {
      i = skipQuoted(i)
    } else if (s.startsWith('--', i) || s.startsWith('/*', i)) {
      i = skipSpaceAndComments(i)
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i
      while (j < n && /[A-Za-z0-9_$]/.test(s.charAt(j))) j++
      const word = s.slice(i, j)
      i = j
      if (word.toUpperCase() !== 'CHECK') continue
      const open = skipSpaceAndComments(j)
      if (s.charAt(open) !== '(') continue
      // The balanced expression inside the parentheses.
      let depth = 0
      let k = open
      while (k < n) {
        const d = s.charAt(k)
        if (d === "'" || d === '"' || d === '`' || d === '[') {
          k = skipQuoted(k)
          continue
        }
        if (s.startsWith('--', k) || s.startsWith('/*', k)) {
          k = skipSpaceAndComments(k)
          continue
        }
        if (d === '(') depth++
        else if (d === ')') {
          depth--
          if (depth === 0) break
        }
        k++
      }
      out.push(s.slice(open + 1, k).trim())
      i = k + 1
    } else i++
  }
  return out
}
