import { PatinaError, type SqlValue } from '@patina/api'
import { tokenize } from '../sql/lexer.js'
import type { Statement } from '../types.js'

/**
 * Rewrites positional `?` parameters to named ones (`:__patina_p<n>`) so that the planner can
 * splice clauses of the query into the statements it derives without shifting them, and
 * returns the parameters as a record (keys with their `:` prefix).
 */
export function normalizeParams(
  sql: string,
  params: Statement['params'],
): { sql: string; params: Record<string, SqlValue> | undefined } {
  const toks = tokenize(sql).filter((t) => t.kind === 'param')
  const positional = toks.filter((t) => t.text === '?')
  if (toks.some((t) => /^\?\d+$/.test(t.text))) {
    throw new PatinaError(
      'PATINA_ERR_SUBSCRIPTION_UNSUPPORTED',
      'a numbered parameter (?NNN) is not supported in a subscription; use ? or :name parameters',
    )
  }
  if (positional.length > 0 && positional.length !== toks.length) {
    throw new PatinaError(
      'PATINA_ERR_SUBSCRIPTION_UNSUPPORTED',
      'a mix of positional (?) and named parameters is not supported in a subscription; use one kind',
    )
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
