/**
 * @packageDocumentation
 *
 * `@patina/client`: the client library of Patina. A typed client for every endpoint of the
 * worker HTTP API (Corrosion-compatible), and live subscriptions that survive dropped
 * connections, dead workers and workers cut off from their cluster without losing or repeating a
 * change. Depends on `@patina/api` and undici only (no native modules, no server stack). The
 * edge daemon that serves lookups from memory is `@patina/edge`.
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
 */
export { createClient, waitForWrite, CLIENT_DEFAULTS } from './client.js'
export type {
  PatinaClient,
  ClientOptions,
  ClientLogger,
  CallOptions,
  QueryOptions,
  SubscribeOptions,
  ReadYourWritesOptions,
  HealthThresholds,
  HealthResult,
  LiveSubscription,
  LiveEvent,
  LiveChange,
  LiveStatus,
  StandbyStatus,
  LiveState,
  LiveListeners,
  SyncReason,
  WatchOptions,
} from './types.js'
export type { QueryStream, QueryRow, QueryResult, SubscriptionStream, UpdatesStream } from './streams.js'
export { WATCH_DEFAULTS } from './live.js'
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
  parseWorkerFreshness,
  contactAgeMs,
  isCutOff,
  coversHeads,
  UNKNOWN_FRESHNESS,
  type WorkerFreshness,
  type ActorHead,
} from './freshness.js'
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
  resumingSubscription,
  isGoneError,
  isFatalSubscriptionError,
  type ResumableApi,
  type ResumableStream,
  type ResumeOptions,
} from './resume.js'
export { componentLogger, type ChildLogger } from './log.js'
