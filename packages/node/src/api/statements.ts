import { PatinaError, type SqlValue } from '@patina/api'
import type { Statement } from '@patina/core'
import { stringifyJson } from './json-body.js'

/**
 * Converts one JSON parameter (as {@link parseJsonBody} returns it) into the SQLite value it is
 * bound as, trying the kinds in the order of Corrosion's untagged `SqliteParam`:
 *
 * | JSON | bound as |
 * |---|---|
 * | `null` | NULL |
 * | `true` / `false` | INTEGER 1 / 0 |
 * | integer literal within the signed 64-bit range (`bigint`) | INTEGER, exact |
 * | any other number (`5.0`, `1e3`, integers beyond 64 bits) | REAL |
 * | string | TEXT |
 * | array of integers 0..255 | BLOB |
 * | any other JSON (object, mixed array) | TEXT holding the value's JSON |
 */
export function parseParam(v: unknown): SqlValue {
  if (v === null) return null
  switch (typeof v) {
    case 'boolean':
      return v ? 1n : 0n
    case 'bigint':
    case 'number':
    case 'string':
      return v
    case 'object':
      if (Array.isArray(v) && v.every(isByte)) return Uint8Array.from(v as bigint[], Number)
      return stringifyJson(v)
    default:
      throw new PatinaError(
        'PATINA_ERR_PARAM_INVALID',
        `parameter value of type ${typeof v} is not a JSON value`,
      )
  }
}

function isByte(x: unknown): boolean {
  return typeof x === 'bigint' && x >= 0n && x <= 255n
}

const NAMED_PREFIXES = [':', '@', '$']

function parseNamed(obj: unknown, where: string): Record<string, SqlValue> {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', `${where} must be an object of named parameters`)
  }
  const out: Record<string, SqlValue> = {}
  for (const [k, v] of Object.entries(obj)) {
    if (!NAMED_PREFIXES.includes(k.charAt(0)) || k.length < 2) {
      throw new PatinaError(
        'PATINA_ERR_PARAM_INVALID',
        `named parameter key ${JSON.stringify(k)} must start with ':', '@' or '$' (the SQLite prefix is part of the name)`,
      )
    }
    out[k] = parseParam(v)
  }
  return out
}

function parsePositional(arr: unknown, where: string): SqlValue[] {
  if (!Array.isArray(arr)) throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', `${where} must be an array`)
  return arr.map(parseParam)
}

const SHAPES =
  'a statement is "sql", ["sql", [params]], ["sql", {":name": value}], {"query": "sql", "params": [...]} or {"query": "sql", "named_params": {...}}'

/**
 * Parses one of the five statement forms of Corrosion's API (see `JsonStatement` in
 * `@patina/api`). Throws `PATINA_ERR_STATEMENT_INVALID` naming the accepted shapes.
 */
export function parseStatement(json: unknown, index?: number): Statement {
  const where = index === undefined ? 'statement' : `statement ${index}`
  if (typeof json === 'string') return checkSql({ sql: json }, where)
  if (Array.isArray(json)) {
    if (json.length !== 2 || typeof json[0] !== 'string') {
      throw new PatinaError(
        'PATINA_ERR_STATEMENT_INVALID',
        `${where} is an array of ${json.length} item(s); ${SHAPES}`,
      )
    }
    const [sql, p] = json as [string, unknown]
    if (Array.isArray(p)) return checkSql({ sql, params: parsePositional(p, `${where} params`) }, where)
    return checkSql({ sql, params: parseNamed(p, `${where} params`) }, where)
  }
  if (json !== null && typeof json === 'object') {
    const o = json as Record<string, unknown>
    if (typeof o['query'] !== 'string') {
      throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', `${where} has no string "query" key; ${SHAPES}`)
    }
    const hasParams = o['params'] !== undefined && o['params'] !== null
    const hasNamed = o['named_params'] !== undefined && o['named_params'] !== null
    if (hasParams && hasNamed) {
      throw new PatinaError(
        'PATINA_ERR_STATEMENT_INVALID',
        `${where} has both "params" and "named_params"; give one`,
      )
    }
    if (hasParams)
      return checkSql({ sql: o['query'], params: parsePositional(o['params'], `${where} params`) }, where)
    if (hasNamed)
      return checkSql(
        { sql: o['query'], params: parseNamed(o['named_params'], `${where} named_params`) },
        where,
      )
    return checkSql({ sql: o['query'] }, where)
  }
  throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', `${where} is ${describe(json)}; ${SHAPES}`)
}

function checkSql(s: Statement, where: string): Statement {
  if (s.sql.trim() === '')
    throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', `${where} has an empty SQL string`)
  return s
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (v === undefined) return 'missing'
  return `a ${typeof v}`
}
