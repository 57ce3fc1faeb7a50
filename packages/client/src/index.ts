/**
 * @packageDocumentation
 *
 * `@patina/client`: the edge client of Patina. A typed client for every endpoint of the worker
 * HTTP API (Corrosion-compatible), live subscriptions that survive dropped connections and dead
 * workers without losing or repeating a change, and the `patina edge` daemon that serves lookups
 * from memory. Depends on `@patina/api` only (no native modules).
 *
 * @example
 * ```ts
 * import { createClient, waitForWrite } from '@patina/client'
 *
 * const client = createClient({ workers: ['http://10.0.0.1:8080', 'http://10.0.0.2:8080'], token })
 * const res = await client.transaction([['INSERT INTO routes (host, backend) VALUES (?, ?)', ['a.example', 'b1']]])
 *
 * // a live view of the routing table, read-your-writes on whichever worker answers
 * const routes = client.watch('SELECT host, backend FROM routes', {
 *   keyColumns: ['host'],
 *   waitFor: waitForWrite(res),
 * })
 * await routes.ready
 * routes.findByKey(['a.example']) // [{ rowid, cells: ['a.example', 'b1'] }]
 * routes.on('change', (c) => console.log(c.seq, c.type, c.cells))
 * for await (const ev of routes) if (ev.type === 'synced') console.log('synced from', ev.worker)
 * ```
 *
 * @example
 * ```ts
 * import { runEdge } from '@patina/client'
 * const edge = await runEdge('/etc/patina/edge.toml') // GET /v1/lookup/routes?key=a.example
 * process.on('SIGTERM', () => void edge.stop())
 * ```
 */
export {
  createClient,
  waitForWrite,
  CLIENT_DEFAULTS,
  type PatinaClient,
  type ClientOptions,
  type ClientLogger,
  type CallOptions,
  type QueryOptions,
  type SubscribeOptions,
  type ReadYourWritesOptions,
  type HealthThresholds,
  type HealthResult,
} from './client.js'
export type { QueryStream, QueryRow, QueryResult, SubscriptionStream, UpdatesStream } from './streams.js'
export {
  WATCH_DEFAULTS,
  type LiveSubscription,
  type LiveEvent,
  type LiveChange,
  type LiveStatus,
  type LiveState,
  type SyncReason,
  type WatchOptions,
} from './live.js'
export { PatinaClientError, isPatinaClientError, type ClientErrorDetails } from './errors.js'
export {
  NDJSON_DEFAULTS,
  createLineSplitter,
  decodeNdjson,
  parseQueryEvent,
  parseNotifyEvent,
  type LineSplitter,
  type LineSplitterOptions,
} from './ndjson.js'
export { BACKOFF_DEFAULTS, backoffDelayMs, type BackoffOptions } from './backoff.js'
export {
  SWITCH_DEFAULTS,
  rankWorkers,
  shouldSwitchWorker,
  workerTier,
  smoothRtt,
  normalizeWorkerUrl,
  workerUrlsFromMembers,
  type WorkerStatus,
  type SwitchPolicy,
} from './workers.js'
export {
  POOL_DEFAULTS,
  createWorkerPool,
  type WorkerPool,
  type WorkerPoolOptions,
  type Prober,
  type ProbeResult,
} from './pool.js'
export { createMaterializedView, keyPart, cellsEqual, type MaterializedView, type ViewDelta } from './view.js'
export {
  createEdge,
  runEdge,
  parseLookupKey,
  type Edge,
  type EdgeDeps,
  type EdgeHealth,
  type EdgeQueryHealth,
  type LookupResult,
  type ViewDump,
} from './edge/edge.js'
export {
  edgeConfigSchema,
  parseEdgeConfig,
  loadEdgeConfig,
  validateEdgeConfig,
  type EdgeConfig,
  type EdgeConfigInput,
  type EdgeQueryConfig,
} from './edge/config.js'
export { saveEdgeState, loadEdgeState, type EdgeState, type SavedView } from './edge/state-file.js'
export { componentLogger, type ChildLogger } from './log.js'
