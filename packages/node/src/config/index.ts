/**
 * Patina configuration: the schema, the loader and the presets.
 *
 * @example
 * ```ts
 * import { loadConfig } from './config/index.js'
 * const { config, warnings } = loadConfig({ configPath: '/etc/patina/config.toml' })
 * ```
 */
export {
  loadConfig,
  resolveConfig,
  defaultConfig,
  parseSetArg,
  deepFreeze,
  UNIX_SOCKET_PATH_MAX_BYTES,
} from './load.js'
export type { LoadConfigOptions, LoadedConfig, ConfigOverride, ConfigLayer } from './load.js'
export { ConfigShape, LOG_LEVELS, TOKEN_ROLES, CORROSION_ONLY_KEYS } from './schema.js'
export type { PatinaConfig, ConfigInput, ApiToken, TokenRole, LogLevel, KeyMeta } from './schema.js'
export { CONFIG_KEYS, keyByName, envName } from './spec.js'
export type { KeySpec } from './spec.js'
export { PRESETS, PRESET_NAMES, TUNED_KEYS, presetConfig } from './presets.js'
export type { PresetName } from './presets.js'
export { parseHostPort, toMultiaddr, httpUrlFor, isGossipAddr, isTcpMultiaddr } from './addr.js'
export type { HostPort } from './addr.js'
export {
  componentOptionsFrom,
  engineOptionsFrom,
  transportOptionsFrom,
  clusterOptionsFrom,
  apiOptionsFrom,
  apiServerLimitsFrom,
  apiListenersFrom,
  hubOptionsFrom,
  advertisedApi,
  nodeFiles,
} from './options.js'
export type { ComponentOptions } from './options.js'
