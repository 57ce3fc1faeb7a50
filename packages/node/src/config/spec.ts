/**
 * Reads {@link ConfigShape} into a flat list of key specifications: dotted name, environment
 * variable, value kind (how a string from the environment or a flag is coerced), type label,
 * default and doc. Docs, env parsing, `--set` and alias handling all come from this list, so the
 * schema stays the single source. Pure.
 */
import { z } from 'zod'
import { ConfigShape, TYPE_LABELS, type KeyMeta } from './schema.js'

/** How a string (from the environment or `--set`) is turned into a value before validation. */
export type ValueKind = 'string' | 'number' | 'boolean' | 'list' | 'json'

export interface KeySpec {
  /** Path segments, e.g. `['api', 'limits', 'body_max_bytes']`. */
  path: readonly string[]
  /** Dotted name as written in TOML sections: `api.limits.body_max_bytes`. */
  name: string
  /** Environment variable: `PATINA_API__LIMITS__BODY_MAX_BYTES`. */
  env: string
  kind: ValueKind
  /** Type as shown in docs. */
  type: string
  /** Default value, or undefined when the key has none (see `defaultLabel`). */
  defaultValue: unknown
  required: boolean
  meta: KeyMeta
}

/** A section-level alias: inside the object at `section`, `from` is another name of `to`. */
export interface AliasSpec {
  section: readonly string[]
  from: string
  to: string
}

// zod 4 keeps the definition on `_zod.def`; only the few fields read here are typed.
interface AnyDef {
  type: string
  innerType?: z.ZodType
  in?: z.ZodType
  element?: z.ZodType
  options?: z.ZodType[]
  entries?: Record<string, string>
  shape?: Record<string, z.ZodType>
  defaultValue?: unknown
}
const defOf = (s: z.ZodType): AnyDef => (s as unknown as { _zod: { def: AnyDef } })._zod.def

interface Unwrapped {
  base: z.ZodType
  defaultValue: unknown
  optional: boolean
}

/** Strips default/prefault/optional/pipe wrappers, remembering the default and optionality. */
function unwrap(schema: z.ZodType): Unwrapped {
  let s = schema
  let defaultValue: unknown = undefined
  let optional = false
  for (;;) {
    const def = defOf(s)
    if ((def.type === 'default' || def.type === 'prefault') && def.innerType) {
      if (def.type === 'default' && defaultValue === undefined) defaultValue = def.defaultValue
      optional = true
      s = def.innerType
    } else if ((def.type === 'optional' || def.type === 'nullable') && def.innerType) {
      optional = true
      s = def.innerType
    } else if (def.type === 'pipe' && def.in) {
      s = def.in
    } else {
      return { base: s, defaultValue, optional }
    }
  }
}

function typeLabel(s: z.ZodType): string {
  const label = TYPE_LABELS.get(s)
  if (label !== undefined) return label
  const def = defOf(s)
  switch (def.type) {
    case 'string':
      return 'string'
    case 'number': {
      const n = s as z.ZodNumber
      const base = n.isInt ? 'integer' : 'number'
      const lo = n.minValue
      const hi = n.maxValue
      const safe = (v: number | null) => v !== null && Math.abs(v) < Number.MAX_SAFE_INTEGER
      if (safe(lo) && safe(hi)) return `${base} (${fmtNum(lo ?? 0)} to ${fmtNum(hi ?? 0)})`
      return base
    }
    case 'boolean':
      return 'boolean'
    case 'enum':
      return Object.values(def.entries ?? {})
        .map((v) => JSON.stringify(v))
        .join(' | ')
    case 'array':
      return def.element
        ? typeLabel(unwrap(def.element).base).replace(/^(\w+)( \(.+\))?$/, '$1[]$2')
        : 'array'
    case 'union':
      return (def.options ?? []).map((o) => typeLabel(unwrap(o).base)).join(' | ')
    default:
      return def.type
  }
}

function fmtNum(n: number): string {
  return n.toLocaleString('en-US').replace(/,/g, '_')
}

function kindOf(s: z.ZodType): ValueKind {
  const def = defOf(s)
  switch (def.type) {
    case 'string':
    case 'enum':
      return 'string'
    case 'number':
      return 'number'
    case 'boolean':
      return 'boolean'
    case 'array': {
      const el = def.element ? defOf(unwrap(def.element).base).type : ''
      return el === 'string' || el === 'enum' ? 'list' : 'json'
    }
    case 'union': {
      const kinds = (def.options ?? []).map((o) => kindOf(unwrap(o).base))
      return kinds.includes('list') && kinds.every((k) => k === 'list' || k === 'string') ? 'list' : 'json'
    }
    default:
      return 'json'
  }
}

function metaOf(s: z.ZodType): KeyMeta | undefined {
  return z.globalRegistry.get(s) as KeyMeta | undefined
}

export function envName(path: readonly string[]): string {
  return 'PATINA_' + path.map((p) => p.replace(/-/g, '_').toUpperCase()).join('__')
}

function walk(
  shape: Record<string, z.ZodType>,
  prefix: string[],
  keys: KeySpec[],
  aliases: AliasSpec[],
): void {
  for (const [name, schema] of Object.entries(shape)) {
    const meta = metaOf(schema)
    for (const a of meta?.aliases ?? []) aliases.push({ section: prefix, from: a, to: name })
    const u = unwrap(schema)
    const def = defOf(u.base)
    const path = [...prefix, name]
    if (def.type === 'object' && def.shape) {
      walk(def.shape, path, keys, aliases)
      continue
    }
    if (!meta) throw new Error(`config schema key ${path.join('.')} has no doc (declare it with key())`)
    keys.push({
      path,
      name: path.join('.'),
      env: envName(path),
      kind: kindOf(u.base),
      type: meta.typeLabel ?? typeLabel(u.base),
      defaultValue: u.defaultValue,
      required: !u.optional,
      meta,
    })
  }
}

function build(): { keys: KeySpec[]; aliases: AliasSpec[] } {
  const keys: KeySpec[] = []
  const aliases: AliasSpec[] = []
  walk(ConfigShape.shape as unknown as Record<string, z.ZodType>, [], keys, aliases)
  return { keys, aliases }
}

const BUILT = build()

/** Every leaf key of the schema, in declaration order. */
export const CONFIG_KEYS: readonly KeySpec[] = BUILT.keys
/** Every alias, parents before children. */
export const CONFIG_ALIASES: readonly AliasSpec[] = BUILT.aliases

const BY_NAME = new Map(CONFIG_KEYS.map((k) => [k.name, k]))
const BY_ENV = new Map(CONFIG_KEYS.map((k) => [k.env, k]))

export function keyByName(name: string): KeySpec | undefined {
  return BY_NAME.get(name)
}
export function keyByEnv(env: string): KeySpec | undefined {
  return BY_ENV.get(env)
}

/**
 * The canonical name of a dotted key that may use aliases (`api.bind_addr` → `api.addr`,
 * `api.authz.bearer` → `api.authorization.bearer-token`).
 */
export function canonicalName(name: string): string {
  const parts = name.split('.')
  for (let i = 0; i < parts.length; i++) {
    const section = parts.slice(0, i)
    const alias = CONFIG_ALIASES.find((a) => a.from === parts[i] && sameSection(a.section, section))
    if (alias) parts[i] = alias.to
  }
  return parts.join('.')
}

function sameSection(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i])
}

/** Edit distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const dp: number[] = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0] ?? 0
    dp[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j] ?? 0
      dp[j] = Math.min((dp[j] ?? 0) + 1, (dp[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return dp[b.length] ?? 0
}

/** The closest known key name, when one is close enough to be a likely typo. */
export function suggestKey(name: string, candidates: Iterable<string> = BY_NAME.keys()): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  for (const c of candidates) {
    const d = editDistance(name, c)
    if (d < bestD) {
      bestD = d
      best = c
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined
}
