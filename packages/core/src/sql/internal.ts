/**
 * Client SQL may not name Patina's internal objects: the tables `__patina_*` (books, version
 * index, clocks) and the functions `__patina_*` (`__patina_capture`, which would replicate
 * fabricated changes, and `__patina_deadline`). Pure: a look at the tokens, so that it holds
 * however the name is written — bare, quoted (`"…"`, `[…]`, `` `…` ``) or as a string where
 * SQLite takes a string for a name (`FROM '__patina_meta'`). A string value that merely starts
 * with `__patina` is refused too: the check cannot tell a name from a value, and such values
 * go in parameters.
 */
import { PatinaError } from '@patina/api'
import { identName, stringValue, tokenize } from './lexer.js'

const INTERNAL = /^__patina/i

/** The internal names `sql` mentions, in order of first appearance. */
export function internalNames(sql: string): string[] {
  // Most statements never mention one: a scan for the text first, so that a huge statement is
  // not tokenized on the caller's thread for nothing (4 MB take seconds to tokenize).
  if (!/__patina/i.test(sql)) return []
  const found = new Set<string>()
  for (const t of tokenize(sql)) {
    const name = identName(t) ?? stringValue(t)
    if (name !== null && INTERNAL.test(name)) found.add(name)
  }
  return [...found]
}

/**
 * Throws `PATINA_ERR_STATEMENT_REFUSED` when a client statement names an internal table or
 * function; `where` prefixes the message (`statement 2: `).
 */
export function assertNoInternalNames(sql: string, where = ''): void {
  const names = internalNames(sql)
  if (names.length === 0) return
  throw new PatinaError(
    'PATINA_ERR_STATEMENT_REFUSED',
    `${where}${names.map((n) => JSON.stringify(n)).join(', ')} ${names.length === 1 ? 'is' : 'are'} internal to Patina: client statements are not allowed to call __patina_* functions or to read or write __patina_* tables`,
  )
}
