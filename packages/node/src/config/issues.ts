/**
 * zod issues → sentences that name the key, the value, what is allowed and where the value came
 * from, e.g. `gossip.cluster_id value 70000 is above maximum 65535 (from environment variable
 * PATINA_GOSSIP__CLUSTER_ID)`.
 */
import type { z } from 'zod'
import { fail, showValue } from './layers.js'
import { ConfigShape, REFINE_CODES, type ParsedConfig } from './schema.js'
import { keyByName, suggestKey, type KeySpec } from './spec.js'

function getPath(obj: unknown, path: readonly PropertyKey[]): unknown {
  let o: unknown = obj
  for (const seg of path) {
    if (o === null || typeof o !== 'object') return undefined
    o = (o as Record<PropertyKey, unknown>)[seg]
  }
  return o
}

function pathName(path: readonly PropertyKey[]): string {
  let s = ''
  for (const seg of path) {
    if (typeof seg === 'number') s += `[${seg}]`
    else s += s === '' ? String(seg) : `.${String(seg)}`
  }
  return s
}

/** The dotted schema key a (possibly nested, e.g. array element) issue path belongs to. */
function keyFor(path: readonly PropertyKey[]): KeySpec | undefined {
  for (let n = path.length; n > 0; n--) {
    const spec = keyByName(
      path
        .slice(0, n)
        .filter((p) => typeof p === 'string')
        .join('.'),
    )
    if (spec) return spec
  }
  return undefined
}

const ARTICLE = (s: string) => (/^[aeiou]/i.test(s) ? `an ${s}` : `a ${s}`)

function describeIssue(issue: z.core.$ZodIssue, input: unknown, sources: Map<string, string>): string[] {
  const path = issue.path
  const name = pathName(path)
  const spec = keyFor(path)
  const source = spec ? sources.get(spec.name) : undefined
  const from = source ? ` (from ${source})` : ''
  const value = getPath(input, path)
  const shown = `${name} value ${showValue(value)}`
  switch (issue.code) {
    case 'too_big': {
      const unit = issue.origin === 'string' ? ' characters' : issue.origin === 'array' ? ' entries' : ''
      const max = String(issue.maximum)
      if (issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint')
        return [`${shown} is above maximum ${max}${from}`]
      return [`${shown} is longer than ${max}${unit}${from}`]
    }
    case 'too_small': {
      const min = String(issue.minimum)
      if (issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint')
        return [`${shown} is below minimum ${min}${from}`]
      if (Number(issue.minimum) === 1) return [`${shown} must not be empty${from}`]
      return [
        `${shown} is shorter than ${min}${issue.origin === 'string' ? ' characters' : ' entries'}${from}`,
      ]
    }
    case 'invalid_type': {
      if (value === undefined) return [`${name} is required${from}`]
      const expected = issue.expected === 'int' ? 'integer' : issue.expected
      const typ = spec && path.length === spec.path.length ? spec.type : expected
      return [`${shown} is not ${ARTICLE(expected)}${typ === expected ? '' : ` (allowed: ${typ})`}${from}`]
    }
    case 'invalid_value':
      return [`${shown} is not one of ${issue.values.map((v) => showValue(v)).join(', ')}${from}`]
    case 'unrecognized_keys':
      return issue.keys.map((k) => {
        const dotted = name === '' ? k : `${name}.${k}`
        if (name === '') {
          const known = Object.keys(ConfigShape.shape).join(', ')
          return `[${k}] is not a known section (known sections: ${known})`
        }
        const hint = suggestKey(dotted)
        return `${dotted} is not a known key${hint ? `; did you mean ${hint}?` : ''}`
      })
    case 'invalid_union': {
      const nested = issue.errors
        .flat()
        .filter((sub) => !(sub.code === 'invalid_type' && sub.path.length === 0))
        .map((sub) => ({ ...sub, path: [...path, ...sub.path] }) as z.core.$ZodIssue)
      if (nested.length > 0) return nested.flatMap((sub) => describeIssue(sub, input, sources))
      return [`${shown} is not ${spec ? `of type ${spec.type}` : 'valid'}${from}`]
    }
    default: {
      const allowed = (REFINE_CODES as Record<string, string>)[issue.message]
      if (allowed !== undefined) return [`${shown} is not ${allowed}${from}`]
      return [`${shown} is invalid: ${issue.message}${from}`]
    }
  }
}

/** Validates merged values; throws one error listing every problem. */
export function validateValues(values: unknown, sources: Map<string, string>): ParsedConfig {
  const r = ConfigShape.safeParse(values)
  if (r.success) return r.data
  const lines = r.error.issues.flatMap((i) => describeIssue(i, values, sources))
  fail(
    lines.length === 1 ? (lines[0] ?? 'invalid configuration') : `invalid configuration: ${lines.join('; ')}`,
  )
}
