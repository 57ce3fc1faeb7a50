/**
 * @packageDocumentation
 *
 * `@patina/edge`: the edge daemon of Patina. It keeps named queries subscribed on nearby
 * workers (through `@patina/client`), holds their rows in memory indexed by key, and answers
 * lookups on a local HTTP port, also while no worker is reachable (marked stale). No native
 * module, no libp2p: an edge machine installs this package and runs `patina-edge -c edge.toml`.
 *
 * @example
 * ```ts
 * import { runEdge } from '@patina/edge'
 * const edge = await runEdge('/etc/patina/edge.toml') // GET /v1/lookup/routes?key=a.example
 * process.on('SIGTERM', () => void edge.stop())
 * ```
 */
export {
  createEdge,
  runEdge,
  type Edge,
  type EdgeDeps,
  type EdgeHealth,
  type EdgeQueryHealth,
  type LookupResult,
  type ViewDump,
} from './edge.js'
export { queryHealth, edgeHealth, type StaleReason } from './health.js'
export { parseLookupKey } from './routes.js'
export {
  edgeConfigSchema,
  parseEdgeConfig,
  loadEdgeConfig,
  validateEdgeConfig,
  effectiveMaxContactMs,
  type EdgeConfig,
  type EdgeConfigInput,
  type EdgeQueryConfig,
  type EdgeTemplateConfig,
} from './config.js'
export {
  saveEdgeState,
  loadEdgeState,
  EdgeStateFileError,
  type EdgeState,
  type SavedView,
} from './state-file.js'
