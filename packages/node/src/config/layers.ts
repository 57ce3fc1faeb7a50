/**
 * The layers of the configuration and their parsing: a TOML file, `PATINA_*` environment
 * variables, flags (`--set key=value`), aliases renamed to canonical names, text coerced to each
 * key's kind. What is invalid is kept for the validator (`issues.ts`) to report with its source.
 */
import { PatinaError } from '@patina/api'
import { parse as parseTomlText, TomlError } from 'smol-toml'
import {
  CONFIG_ALIASES,
  CONFIG_KEYS,
  canonicalName,
  keyByEnv,
  keyByName,
  suggestKey,
  type KeySpec,
} from './spec.js'

export type Obj = Record<string, unknown>

/** One source of configuration values. `sources` maps each dotted leaf it sets to a description. */
export interface ConfigLayer {
  values: Obj
  sources: Map<string, string>
}

/** A single key set by a flag: `{ key: 'api.addr', value: '127.0.0.1:9000', source: '--api-addr' }`. */
export interface ConfigOverride {
  /** Dotted key; aliases accepted (`api.bind_addr`). */
  key: string
  /** Raw text (coerced like an environment variable) or an already typed value. */
  value: unknown
  /** Shown in error messages; default `--set <key>=<value>`. */
  source?: string
}

export function fail(message: string): never {
  throw new PatinaError('PATINA_ERR_CONFIG_INVALID', message)
}

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** JSON-ish rendering of a value for messages. */
export function showValue(v: unknown): string {
  if (v === undefined) return 'undefined'
  if (typeof v === 'bigint') return v.toString()
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}

function leaves(obj: Obj, prefix: string[] = [], out: string[][] = []): string[][] {
  for (const [k, v] of Object.entries(obj)) {
    const p = [...prefix, k]
    // A leaf is a schema key or anything that is not a plain object (arrays, scalars).
    if (isObj(v) && !keyByName(p.join('.'))) leaves(v, p, out)
    else out.push(p)
  }
  return out
}

export function layerFrom(values: Obj, source: string): ConfigLayer {
  const sources = new Map<string, string>()
  for (const p of leaves(values)) sources.set(p.join('.'), source)
  return { values, sources }
}

/** Renames aliases to canonical names inside one layer; both forms in one layer is an error. */
export function applyAliases(values: Obj, where: string): Obj {
  const out = structuredClone(values)
  for (const a of CONFIG_ALIASES) {
    let section: unknown = out
    for (const s of a.section) section = isObj(section) ? section[s] : undefined
    if (!isObj(section) || !(a.from in section)) continue
    const dotted = [...a.section, a.from].join('.')
    const canonical = [...a.section, a.to].join('.')
    if (a.to in section)
      fail(`${dotted} and ${canonical} are the same key (alias) and are both set in ${where}; set only one`)
    section[a.to] = section[a.from]
    delete section[a.from]
  }
  return out
}

/** Parses TOML text; a syntax error names the file, line and column. */
export function parseToml(text: string, file: string): Obj {
  try {
    return parseTomlText(text) as Obj
  } catch (e) {
    if (e instanceof TomlError)
      fail(
        `config file ${file} is not valid TOML: ${e.message.split('\n')[0]} (line ${e.line}, column ${e.column})`,
      )
    throw e
  }
}

/** Turns a string from the environment or a flag into the key's kind; invalid text is kept for the validator to report. */
export function coerce(spec: KeySpec, raw: string): unknown {
  const text = raw.trim()
  switch (spec.kind) {
    case 'string':
      return raw
    case 'number': {
      const t = text.replace(/_/g, '')
      return /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(t) ? Number(t) : raw
    }
    case 'boolean': {
      const t = text.toLowerCase()
      if (['true', '1', 'yes', 'on'].includes(t)) return true
      if (['false', '0', 'no', 'off'].includes(t)) return false
      return raw
    }
    case 'list':
      if (text.startsWith('[')) {
        try {
          return JSON.parse(text) as unknown
        } catch {
          return raw
        }
      }
      return text === ''
        ? []
        : text
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '')
    case 'json':
      try {
        return JSON.parse(text) as unknown
      } catch {
        return raw
      }
  }
}

function setPath(obj: Obj, path: readonly string[], value: unknown): void {
  let o = obj
  for (const seg of path.slice(0, -1)) {
    const next = o[seg]
    if (isObj(next)) o = next
    else {
      const created: Obj = {}
      o[seg] = created
      o = created
    }
  }
  const last = path[path.length - 1]
  if (last !== undefined) o[last] = value
}

/** Reads `PATINA_<SECTION>__<KEY>` variables (double underscore nesting). */
export function envLayer(
  env: Readonly<Record<string, string | undefined>>,
): ConfigLayer & { warnings: string[] } {
  const values: Obj = {}
  const sources = new Map<string, string>()
  const warnings: string[] = []
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('PATINA_') || raw === undefined) continue
    const spec = keyByEnv(name)
    if (!spec) {
      if (name.includes('__')) {
        const hint = suggestKey(
          name,
          CONFIG_KEYS.map((k) => k.env),
        )
        warnings.push(
          `environment variable ${name} names no configuration key; ignored${hint ? ` (did you mean ${hint}?)` : ''}`,
        )
      }
      continue
    }
    setPath(values, spec.path, coerce(spec, raw))
    sources.set(spec.name, `environment variable ${name}`)
  }
  return { values, sources, warnings }
}

/** Flag values (`--api-addr`, `--set key=value`); an unknown key is an error. */
export function overrideLayer(overrides: readonly ConfigOverride[]): ConfigLayer {
  const values: Obj = {}
  const sources = new Map<string, string>()
  for (const o of overrides) {
    const name = canonicalName(o.key)
    const spec = keyByName(name)
    const source = o.source ?? `--set ${o.key}=${typeof o.value === 'string' ? o.value : showValue(o.value)}`
    if (!spec) {
      const hint = suggestKey(name)
      fail(`${o.key} (from ${source}) is not a configuration key${hint ? `; did you mean ${hint}?` : ''}`)
    }
    setPath(values, spec.path, typeof o.value === 'string' ? coerce(spec, o.value) : o.value)
    sources.set(spec.name, source)
  }
  return { values, sources }
}

/** Parses a `key=value` flag argument. */
export function parseSetArg(arg: string): ConfigOverride {
  const eq = arg.indexOf('=')
  if (eq <= 0)
    fail(`--set value ${showValue(arg)} is not of the form key=value (for example --set gossip.cluster_id=3)`)
  return { key: arg.slice(0, eq).trim(), value: arg.slice(eq + 1), source: `--set ${arg}` }
}

export function deepMerge(target: Obj, src: Obj): Obj {
  for (const [k, v] of Object.entries(src)) {
    const t = target[k]
    if (isObj(v) && isObj(t)) deepMerge(t, v)
    else target[k] = isObj(v) ? deepMerge({}, v) : v
  }
  return target
}
