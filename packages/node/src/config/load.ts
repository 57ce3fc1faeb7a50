/**
 * Loading the configuration: defaults < preset (`gossip.preset`, from any layer) < TOML file <
 * environment (`PATINA_API__ADDR`) < flags (`--api-addr`, `--set key=value`), validated once
 * against `schema.ts`, then deep-frozen.
 * Nothing below this module re-checks or mutates options.
 *
 * Every error is a `PatinaError('PATINA_ERR_CONFIG_INVALID')` whose message names the key, the
 * value, what is allowed and where the value came from, e.g.
 * `gossip.cluster_id value 70000 is above maximum 65535 (from environment variable PATINA_GOSSIP__CLUSTER_ID)`
 * (the sentences are made in `issues.ts`; layers are parsed in `layers.ts`, derived values in
 * `finish.ts`).
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve as resolvePath } from 'node:path'
import { finish } from './finish.js'
import { validateValues } from './issues.js'
import {
  applyAliases,
  deepMerge,
  envLayer,
  fail,
  isObj,
  layerFrom,
  overrideLayer,
  parseToml,
  type ConfigLayer,
  type ConfigOverride,
  type Obj,
} from './layers.js'
import { isPresetName, presetConfig, type PresetName } from './presets.js'
import { CORROSION_ONLY_KEYS, type ConfigInput, type PatinaConfig } from './schema.js'

export {
  applyAliases,
  coerce,
  envLayer,
  overrideLayer,
  parseSetArg,
  parseToml,
  showValue,
  type ConfigLayer,
  type ConfigOverride,
} from './layers.js'
export { validateValues } from './issues.js'
export { parseClusterKeyFile, UNIX_SOCKET_PATH_MAX_BYTES } from './finish.js'

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

/** Recursively freezes plain objects and arrays. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
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
