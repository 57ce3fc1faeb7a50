/**
 * Loading the configuration: defaults < preset (`gossip.preset`, from any layer) < TOML file <
 * environment (`PATINA_API__ADDR`) < flags (`--api-addr`, `--set key=value`), validated once
 * against `schema.ts`, then deep-frozen.
 * Nothing below this module re-checks or mutates options.
 *
 * Every error is a `PatinaError('PATINA_ERR_CONFIG_INVALID')` whose message names the key, the
 * value, what is allowed and where the value came from, e.g.
 * `gossip.cluster_id value 70000 is above maximum 65535 (from environment variable PATINA_GOSSIP__CLUSTER_ID)`.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve as resolvePath } from 'node:path'
import { PatinaError } from '@patina/api'
import { parse as parseTomlText, TomlError } from 'smol-toml'
import type { z } from 'zod'
import { isPresetName, presetConfig, type PresetName } from './presets.js'
import {
  ConfigShape,
  CORROSION_ONLY_KEYS,
  REFINE_CODES,
  type ConfigInput,
  type ParsedConfig,
  type PatinaConfig,
  type ResolvedConfig,
} from './schema.js'
import {
  CONFIG_ALIASES,
  CONFIG_KEYS,
  canonicalName,
  keyByEnv,
  keyByName,
  suggestKey,
  type KeySpec,
} from './spec.js'

type Obj = Record<string, unknown>

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

export interface LoadConfigOptions {
  /** TOML file to read; when absent only defaults, the preset, the environment and overrides apply. */
  configPath?: string | undefined
  /** Default `process.env`. Only `PATINA_*` variables naming a key are read. */
  env?: Readonly<Record<string, string | undefined>>
  /** Flag values, applied in order after the environment. */
  overrides?: readonly ConfigOverride[]
  /** `gossip.preset` when no file, variable or flag sets it: `lan` (the defaults), `local`, `test`. */
  preset?: PresetName
  /** Base for relative paths; default `process.cwd()`. */
  cwd?: string
}

export interface LoadedConfig {
  config: PatinaConfig
  /** Things worth a log line: ignored Corrosion-only keys, unknown `PATINA_*__*` variables. */
  warnings: string[]
  /** Absolute path of the file read, if any. */
  configPath: string | undefined
  /** Dotted key → where its value came from (only keys not left at their default). */
  sources: ReadonlyMap<string, string>
}

const STRIPPED_SECTIONS = new Set(
  CORROSION_ONLY_KEYS.filter((k) => k.endsWith('.*')).map((k) => k.slice(0, -2)),
)
const STRIPPED_KEYS = new Set(CORROSION_ONLY_KEYS.filter((k) => !k.endsWith('.*')))

function fail(message: string): never {
  throw new PatinaError('PATINA_ERR_CONFIG_INVALID', message)
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

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

function layerFrom(values: Obj, source: string): ConfigLayer {
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

function getPath(obj: unknown, path: readonly PropertyKey[]): unknown {
  let o: unknown = obj
  for (const seg of path) {
    if (o === null || typeof o !== 'object') return undefined
    o = (o as Record<PropertyKey, unknown>)[seg]
  }
  return o
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

function deepMerge(target: Obj, src: Obj): Obj {
  for (const [k, v] of Object.entries(src)) {
    const t = target[k]
    if (isObj(v) && isObj(t)) deepMerge(t, v)
    else target[k] = isObj(v) ? deepMerge({}, v) : v
  }
  return target
}

/** Removes Corrosion-only keys (accepted so that Corrosion configs load) and says so. */
function stripCorrosionOnly(values: Obj, warnings: string[]): void {
  for (const section of Object.keys(values)) {
    if (STRIPPED_SECTIONS.has(section)) {
      warnings.push(`[${section}] is a Corrosion section Patina does not use; ignored`)
      delete values[section]
      continue
    }
    const sec = values[section]
    if (!isObj(sec)) continue
    for (const k of Object.keys(sec)) {
      const dotted = `${section}.${k}`
      if (STRIPPED_KEYS.has(dotted)) {
        warnings.push(`${dotted} is a Corrosion setting Patina does not use; ignored`)
        delete sec[k]
      }
    }
  }
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

/** Recursively freezes plain objects and arrays. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/** Unix socket paths are limited to 107 bytes on Linux and 103 on macOS. */
export const UNIX_SOCKET_PATH_MAX_BYTES = 103

/** Reads a cluster key file: 64 hex characters, or a libp2p `swarm.key` (`/key/swarm/psk/1.0.0/`, `/base16/`, key). */
export function parseClusterKeyFile(text: string): string | null {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
  const keyLine =
    lines[0] === '/key/swarm/psk/1.0.0/'
      ? lines[1] === '/base16/'
        ? lines[2]
        : undefined
      : lines.length === 1
        ? lines[0]
        : undefined
  return keyLine !== undefined && /^[0-9a-fA-F]{64}$/.test(keyLine) ? keyLine.toLowerCase() : null
}

/** Cross-key checks, path resolution and derived defaults. */
function finish(parsed: ParsedConfig, sources: Map<string, string>, cwd: string): ResolvedConfig {
  const from = (k: string) => (sources.has(k) ? ` (from ${sources.get(k) ?? ''})` : '')
  const g = parsed.gossip
  if (g.cluster_key !== undefined && g.cluster_key_file !== undefined)
    fail(
      `gossip.cluster_key and gossip.cluster_key_file are both set${from('gossip.cluster_key_file')}; set only one`,
    )
  if (g.sync_interval_min_ms > g.sync_interval_max_ms)
    fail(
      `gossip.sync_interval_min_ms value ${g.sync_interval_min_ms} is above gossip.sync_interval_max_ms (${g.sync_interval_max_ms})${from('gossip.sync_interval_min_ms')}`,
    )
  const abs = (p: string) => resolvePath(cwd, p)
  const dbPath = abs(parsed.db.path)
  let clusterKey = g.cluster_key?.toLowerCase()
  let clusterKeyFile: string | undefined
  if (g.cluster_key_file !== undefined) {
    clusterKeyFile = abs(g.cluster_key_file)
    let text: string
    try {
      text = readFileSync(clusterKeyFile, 'utf8')
    } catch (e) {
      fail(
        `gossip.cluster_key_file value ${showValue(g.cluster_key_file)} cannot be read: ${(e as Error).message}${from('gossip.cluster_key_file')}`,
      )
    }
    const k = parseClusterKeyFile(text)
    if (k === null)
      fail(
        `gossip.cluster_key_file value ${showValue(g.cluster_key_file)} does not hold a key: expected 64 hex characters or a libp2p swarm.key${from('gossip.cluster_key_file')}`,
      )
    clusterKey = k
  }
  const adminPath =
    parsed.admin.path !== undefined ? abs(parsed.admin.path) : resolvePath(dirname(dbPath), 'admin.sock')
  if (Buffer.byteLength(adminPath) > UNIX_SOCKET_PATH_MAX_BYTES)
    fail(
      `admin.path value ${showValue(adminPath)} is ${Buffer.byteLength(adminPath)} bytes long; Unix socket paths are limited to ${UNIX_SOCKET_PATH_MAX_BYTES} bytes${from('admin.path')}`,
    )
  const { cluster_key: _k, cluster_key_file: _f, ...gossipRest } = g
  return {
    ...parsed,
    db: {
      path: dbPath,
      schema_paths: parsed.db.schema_paths.map(abs),
      local_tables: parsed.db.local_tables,
      subscriptions_path:
        parsed.db.subscriptions_path !== undefined
          ? abs(parsed.db.subscriptions_path)
          : resolvePath(dirname(dbPath), 'subscriptions'),
    },
    gossip: {
      ...gossipRest,
      ...(clusterKey !== undefined ? { cluster_key: clusterKey } : {}),
      ...(clusterKeyFile !== undefined ? { cluster_key_file: clusterKeyFile } : {}),
    },
    admin: { path: adminPath },
  }
}

/**
 * Merges the layers (lowest first) on top of the values of the preset they name in
 * `gossip.preset` (the last one that sets it wins). An unknown name adds nothing; the validator
 * then reports it with its source.
 */
function withPreset(layers: readonly ConfigLayer[], sources: Map<string, string>): Obj {
  let name: unknown
  for (const layer of layers) {
    const g = layer.values['gossip']
    if (isObj(g) && g['preset'] !== undefined) name = g['preset']
  }
  const merged: Obj = {}
  if (isPresetName(name)) {
    const preset = layerFrom(presetConfig(name) as Obj, `preset ${name}`)
    deepMerge(merged, preset.values)
    for (const [k, s] of preset.sources) sources.set(k, s)
  }
  for (const layer of layers) {
    deepMerge(merged, layer.values)
    for (const [k, s] of layer.sources) sources.set(k, s)
  }
  return merged
}

/**
 * The pure core of {@link loadConfig}: merge layers (lowest first), drop Corrosion-only keys,
 * validate, derive, freeze.
 */
export function resolveConfig(
  layers: readonly ConfigLayer[],
  opts: { cwd: string },
): Omit<LoadedConfig, 'configPath'> {
  const warnings: string[] = []
  const sources = new Map<string, string>()
  const merged = withPreset(layers, sources)
  stripCorrosionOnly(merged, warnings)
  const parsed = validateValues(merged, sources)
  const config = deepFreeze(finish(parsed, sources, opts.cwd)) as PatinaConfig
  return { config, warnings, sources }
}

/**
 * Loads, validates and freezes the configuration.
 *
 * @example
 * ```ts
 * const { config, warnings } = loadConfig({ configPath: 'patina.toml', overrides: [{ key: 'api.addr', value: '127.0.0.1:0' }] })
 * ```
 */
export function loadConfig(opts: LoadConfigOptions = {}): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd()
  const layers: ConfigLayer[] = []
  if (opts.preset !== undefined)
    layers.push(layerFrom({ gossip: { preset: opts.preset } }, `preset ${opts.preset}`))
  let configPath: string | undefined
  if (opts.configPath !== undefined) {
    configPath = resolvePath(cwd, opts.configPath)
    if (!existsSync(configPath)) fail(`config file ${configPath} does not exist`)
    let text: string
    try {
      text = readFileSync(configPath, 'utf8')
    } catch (e) {
      fail(`config file ${configPath} cannot be read: ${(e as Error).message}`)
    }
    const where = `config file ${configPath}`
    layers.push(layerFrom(applyAliases(parseToml(text, configPath), where), where))
  }
  const env = envLayer(opts.env ?? process.env)
  layers.push(env)
  if (opts.overrides && opts.overrides.length > 0) layers.push(overrideLayer(opts.overrides))
  const r = resolveConfig(layers, { cwd })
  return { ...r, warnings: [...env.warnings, ...r.warnings], configPath }
}

/** The defaults, validated and frozen (no file, no environment). */
export function defaultConfig(cwd: string = process.cwd()): PatinaConfig {
  return resolveConfig([], { cwd }).config
}

export type { ConfigInput }
