/**
 * SQL parameters of a statement and how a positional array binds to them, as SQLite numbers
 * them and as Corrosion binds a JSON array (by position: value i goes to parameter i + 1).
 * better-sqlite3 binds an array only to anonymous `?`; numbered (`?NNN`) and named (`:a`,
 * `@a`, `$a`) parameters need an object, so the array is spread over both. Pure.
 */
import { PatinaError } from '@patina/api'

export interface ParamSlot {
  /** SQLite's 1-based parameter index. */
  index: number
  /** `?` for anonymous, the digits of `?NNN`, or the name without its prefix. */
  key: string
  kind: 'anonymous' | 'numbered' | 'named'
}

const cache = new Map<string, ParamSlot[]>()
const CACHE_MAX = 512

/** Parameter slots in order of appearance (each distinct parameter once), skipping strings, identifiers and comments. */
export function sqlParameters(sql: string): ParamSlot[] {
  const hit = cache.get(sql)
  if (hit !== undefined) return hit
  const slots = scan(sql)
  if (sql.length <= 4096) {
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string)
    cache.set(sql, slots)
  }
  return slots
}

function scan(sql: string): ParamSlot[] {
  const out: ParamSlot[] = []
  const named = new Map<string, number>()
  const numbered = new Set<number>()
  let max = 0
  let i = 0
  const n = sql.length
  while (i < n) {
    const c = sql.charAt(i)
    if (c === '-' && sql.charAt(i + 1) === '-') {
      const nl = sql.indexOf('\n', i)
      i = nl === -1 ? n : nl + 1
    } else if (c === '/' && sql.charAt(i + 1) === '*') {
      const end = sql.indexOf('*/', i + 2)
      i = end === -1 ? n : end + 2
    } else if (c === "'" || c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c
      let j = i + 1
      for (;;) {
        const k = sql.indexOf(close, j)
        if (k === -1) {
          j = n
          break
        }
        if (close !== ']' && sql.charAt(k + 1) === close) {
          j = k + 2
          continue
        }
        j = k + 1
        break
      }
      i = j
    } else if (c === '?') {
      const m = /^\d+/.exec(sql.slice(i + 1, i + 12))
      if (m) {
        const idx = Number(m[0])
        if (!numbered.has(idx)) {
          numbered.add(idx)
          out.push({ index: idx, key: m[0], kind: 'numbered' })
        }
        max = Math.max(max, idx)
        i += 1 + m[0].length
      } else {
        out.push({ index: ++max, key: '?', kind: 'anonymous' })
        i++
      }
    } else if (
      (c === ':' || c === '@' || c === '$') &&
      /[A-Za-z0-9_]/.test(sql.charAt(i + 1)) &&
      !/[A-Za-z0-9_$]/.test(sql.charAt(i - 1))
    ) {
      const m = /^[A-Za-z0-9_$]+/.exec(sql.slice(i + 1)) as RegExpExecArray
      const name = m[0]
      if (!named.has(name)) {
        named.set(name, ++max)
        out.push({ index: max, key: name, kind: 'named' })
      }
      i += 1 + name.length
    } else i++
  }
  return out
}

/**
 * The arguments for better-sqlite3 that bind `values` by position to the parameters of `sql`:
 * anonymous `?` take their values as positional arguments, numbered and named ones through
 * one object. Refuses a count that does not match, saying what the statement expects.
 */
export function bindPositional<T>(sql: string, values: readonly T[]): unknown[] {
  const slots = sqlParameters(sql)
  const count = slots.reduce((m, s) => Math.max(m, s.index), 0)
  if (values.length !== count) {
    const names = slots.every((x) => x.kind === 'anonymous')
      ? []
      : slots
          .slice()
          .sort((a, b) => a.index - b.index)
          .map((x) =>
            x.kind === 'anonymous'
              ? `?(${x.index})`
              : x.kind === 'numbered'
                ? `?${x.key}`
                : `:${x.key}(${x.index})`,
          )
    throw new PatinaError(
      'PATINA_ERR_PARAM_INVALID',
      `the statement has ${count} parameter${count === 1 ? '' : 's'}${names.length > 0 ? ` (${names.join(', ')})` : ''} but ${values.length} value${values.length === 1 ? ' was' : 's were'} given`,
    )
  }
  if (slots.every((s) => s.kind === 'anonymous')) return [...values]
  const positional: T[] = []
  const obj: Record<string, T> = {}
  for (const s of slots) {
    const v = values[s.index - 1] as T
    if (s.kind === 'anonymous') positional.push(v)
    else obj[s.key] = v
  }
  return [...positional, obj]
}
