/**
 * @packageDocumentation
 *
 * The Patina worker agent: configuration, the libp2p cluster (membership, broadcast,
 * anti-entropy sync), the Corrosion-compatible HTTP API with live subscriptions, the admin
 * socket and the `patina` CLI.
 *
 * @example
 * ```ts
 * import { loadConfig, startAgent, createLogger } from '@patina/node'
 * const { config } = loadConfig({ configPath: 'patina.toml' })
 * const agent = await startAgent(config, { logger: createLogger(config.log) })
 * console.log(agent.apiUrl)
 * await agent.stop()
 * ```
 */
import './runtime/polyfill.js'
export { startAgent, readSchemaFiles, type Agent, type AgentDeps } from './runtime/agent.js'
export {
  loadConfig,
  defaultConfig,
  type PatinaConfig,
  type LoadedConfig,
  type ConfigOverride,
  PRESETS,
  type PresetName,
} from './config/index.js'
export { createLogger, setLogLevel, componentLogger } from './runtime/log.js'
export { buildApi, type ApiDeps } from './api/index.js'
export { createCluster, type Cluster, type ClusterOptions, type ClusterTuning } from './runtime/cluster.js'
export {
  createSubscriptionHub,
  type SubscriptionHub,
  type SubscriptionInfo,
  type EventSink,
} from './subs/index.js'
export { createLibp2pTransport } from './transport/libp2p.js'
export {
  createMemoryNetwork,
  type MemoryNetwork,
  type MemoryNetworkOptions,
  type MemoryNetworkStats,
} from './transport/memory.js'
export {
  uniformLinks,
  uniformHop,
  type Hop,
  type HopFate,
  type LinkModel,
  type MemoryFaults,
} from './transport/link-model.js'
export { createVirtualClock, type VirtualClock, type VirtualClockOptions } from './runtime/clock.js'
export type { Transport } from './transport/transport.js'
