/**
 * The public types of the client and of live subscriptions, in one module so that the modules
 * implementing them (`client.ts`, `live.ts`) import types from here and not from each other.
 */
import type {
  ExecResponse,
  HealthResponse,
  JsonParam,
  JsonSqlValue,
  JsonStatement,
  MembersResponse,
  RowId,
  TableStatsResponse,
  WaitFor,
} from '@patina/api'
import type { Dispatcher } from 'undici'
import type { BackoffOptions } from './backoff.js'
import type { PatinaClientError } from './errors.js'
import type { WorkerFreshness } from './freshness.js'
import type { WorkerPool } from './pool.js'
import type { QueryResult, QueryStream, SubscriptionStream, UpdatesStream } from './streams.js'
import type { ViewDelta } from './view.js'
import type { SwitchPolicy, WorkerStatus } from './workers.js'

/** Minimal logger interface (pino's `Logger` fits). */
export interface ClientLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  child(bindings: Record<string, unknown>): ClientLogger
}

export interface ClientOptions {
  /** One worker's base URL, e.g. `http://127.0.0.1:8080`. Either `url` or `workers` is required. */
  url?: string
  /** Several workers' base URLs (or `host:port`), most preferred first until probes measure RTT. */
  workers?: string[]
  /** Also use the workers listed by `GET /v1/cluster/members` (their `api_addr`). Default false. */
  discover?: boolean
  /** Bearer token for `Authorization: Bearer <token>`. */
  token?: string
  /** Extra headers on every request. */
  headers?: Record<string, string>
  /** Default deadline of a request in milliseconds (for a stream: until its headers; for a query: the whole answer). 0 = none. Default 30 000. */
  timeoutMs?: number
  /** TCP connect timeout in milliseconds. Default 10 000. */
  connectTimeoutMs?: number
  /** Longest accepted NDJSON line in bytes. Default 8 MiB. */
  maxLineBytes?: number
  /** Time between health probes of every worker while a live subscription runs, in milliseconds. Default 2 000. */
  probeIntervalMs?: number
  /** Health probe timeout in milliseconds. Default 2 000. */
  probeTimeoutMs?: number
  /** Consecutive failed probes before a worker counts as down. Default 2. */
  downAfterProbeFailures?: number
  /** Time between membership discoveries in milliseconds (with `discover`). Default 10 000. */
  discoveryIntervalMs?: number
  /** Hysteresis for moving to a nearer worker. Default `{ switchMarginMs: 5, switchRatio: 0.7 }`. */
  switchPolicy?: SwitchPolicy
  /**
   * A worker whose last contact with another member of its cluster is older than this (its
   * health answer's `last_contact_ms`, aged since the probe), or that says it is `isolated`,
   * counts as cut off: ranked below every worker that is not, and left by live subscriptions
   * when a better one answers. In milliseconds. Default 10 000.
   */
  maxContactMs?: number
  /** Logger (pino); the client logs with `component: 'client'`. */
  logger?: ClientLogger
  /** Wall clock in milliseconds (tests). Default `Date.now`. */
  now?: () => number
  /** Random numbers in [0, 1) for backoff jitter (tests). Default `Math.random`. */
  random?: () => number
  /** An undici dispatcher to send requests through instead of the client's own `Agent`. */
  dispatcher?: Dispatcher
}

/** Options every call accepts. */
export interface CallOptions {
  /** Aborts the request (the promise or stream rejects with the signal's reason). */
  signal?: AbortSignal
  /** Deadline in milliseconds; overrides the client's `timeoutMs`. 0 = none. */
  timeoutMs?: number
  /** Send to this worker URL instead of the pool's best one. */
  worker?: string
}

/** Read-your-writes: make the worker wait until a write is applied before answering. */
export interface ReadYourWritesOptions {
  /** `{ actor_id, version }` of a write (see {@link waitForWrite}). */
  waitFor?: WaitFor
  /** How long the worker may wait for it, in milliseconds (`wait_timeout_ms`); the server's default otherwise. */
  waitTimeoutMs?: number
}

export interface QueryOptions extends CallOptions, ReadYourWritesOptions {}

export interface SubscribeOptions extends CallOptions, ReadYourWritesOptions {
  /** Replay only changes after this change id (`from`). */
  from?: number
  /** Send only changes, no `columns`/`row`/`eoq` (`skip_rows=true`). */
  skipRows?: boolean
  /** Fail the stream with `PATINA_ERR_TIMEOUT` after this many milliseconds without a byte. 0 = never (default). */
  idleTimeoutMs?: number
}

/** `GET /v1/health` thresholds (Corrosion's query parameters). */
export interface HealthThresholds {
  /** Unhealthy above this many missing versions (`gaps`). */
  gaps?: number
  /** Unhealthy above this p99 apply lag in seconds (`p99_lag`). */
  p99LagS?: number
  /** Unhealthy above this apply-queue length (`max_queue`). */
  maxQueue?: number
  /** With `p99LagS`: only unhealthy when the queue is also longer than this (`queue_size`). */
  queueSize?: number
  /** Status to answer with when unhealthy (`failure_status`, default 503). */
  failureStatus?: number
  /** Unhealthy when the worker has not heard from another member for longer than this, in ms, or never (`max_contact_ms`, Patina). */
  maxContactMs?: number
}

/** The answer of `GET /v1/health`: 2xx or not, never thrown for a non-2xx status. */
export interface HealthResult {
  ok: boolean
  httpStatus: number
  /** The health numbers, when the server sent them. */
  health: HealthResponse['response'] | null
  /** The server's error message, when it sent one. */
  error: string | null
  /** How current the worker says it is (Patina's additions to the health answer; unknown fields are null). */
  freshness: WorkerFreshness
}

/**
 * A typed client for the worker HTTP API (Corrosion-compatible, plus Patina's additions).
 * Every method takes {@link CallOptions}; errors are {@link PatinaClientError}.
 */
export interface PatinaClient {
  /** `POST /v1/transactions`: runs the statements in one transaction. Throws `PATINA_ERR_HTTP` with the server's message when it fails. */
  transaction(statements: JsonStatement[], opts?: CallOptions): Promise<ExecResponse>
  /** `POST /v1/queries`: resolves once the answer starts (HTTP errors reject here); iterate the stream for rows. */
  query(statement: JsonStatement, opts?: QueryOptions): Promise<QueryStream>
  /** `query` then `collect()`: the whole answer in memory. */
  queryAll(statement: JsonStatement, opts?: QueryOptions): Promise<QueryResult>
  /** `POST /v1/subscriptions`: the raw stream (snapshot, then changes). No reconnection: see {@link PatinaClient.watch}. */
  subscribe(statement: JsonStatement, opts?: SubscribeOptions): Promise<SubscriptionStream>
  /** `GET /v1/subscriptions/:id`: re-attaches to a subscription, e.g. with `from` after a dropped connection. */
  subscription(id: string, opts?: SubscribeOptions): Promise<SubscriptionStream>
  /** `POST /v1/updates/:table`: primary-key notifications. */
  updates(table: string, opts?: CallOptions): Promise<UpdatesStream>
  /** `POST /v1/table_stats`. */
  tableStats(tables: string[], opts?: CallOptions): Promise<TableStatsResponse>
  /** `GET /v1/health` with optional thresholds; a non-2xx answer is returned, not thrown. */
  health(thresholds?: HealthThresholds, opts?: CallOptions): Promise<HealthResult>
  /** `GET /v1/cluster/members` (Patina addition). */
  members(opts?: CallOptions): Promise<MembersResponse>
  /**
   * A live subscription: an async iterator of row changes and a materialized view that stays
   * up to date across dropped connections and worker failures. See {@link LiveSubscription}.
   */
  watch(statement: JsonStatement, opts?: WatchOptions): LiveSubscription
  watch(sql: string, params: JsonParam[] | Record<string, JsonParam>, opts?: WatchOptions): LiveSubscription
  /** The workers, best first, with their measured state. */
  workers(): WorkerStatus[]
  /** The worker pool (probing, ranking). */
  readonly pool: WorkerPool
  /** Closes every live subscription and the connection pool. */
  close(): Promise<void>
}

/** Options of {@link PatinaClient.watch}. */
export interface WatchOptions {
  /**
   * Columns that identify a row across workers (usually the primary key). Rows are matched by
   * them when a snapshot from another worker is reconciled, and indexed for `findByKey`.
   * Without them a row's identity is its whole content.
   */
  keyColumns?: string[]
  /** Read-your-writes: each worker waits until this write is applied before its snapshot. */
  waitFor?: WaitFor
  /** How long a worker may wait for `waitFor`, in milliseconds. */
  waitTimeoutMs?: number
  /** Rows to start from (warm restart, e.g. a saved view): the first snapshot is reconciled against them. */
  initialState?: { columns: string[]; rows: Iterable<readonly [RowId, JsonSqlValue[]]> }
  /** Reconnection backoff. Default `{ baseMs: 100, maxMs: 5000, factor: 2, jitter: 0.2 }`. */
  backoff?: Partial<BackoffOptions>
  /** Consecutive failed attempts on one worker before failing over to the next. Default 3. */
  resumeAttempts?: number
  /** Deadline for a (re)connection to answer with headers, in milliseconds. Default 10 000. */
  connectTimeoutMs?: number
  /** Reconnect after this many milliseconds without a byte from the worker. 0 = never (default; health probes detect dead workers). */
  idleTimeoutMs?: number
  /** Events an iterator may have queued before it fails with `PATINA_ERR_SLOW_CONSUMER`. Default 100 000. */
  maxQueuedEvents?: number
  /**
   * Keep a hot standby: the same subscription followed on the next worker in rank (one snapshot
   * when it is made, then its changes), held as differences from the view, so that a failover to
   * that worker re-attaches with `from` and reconciles without a snapshot. Default false. See
   * `live-standby.ts`.
   */
  standby?: boolean
  /** After a standby failed on a worker, wait this long before making one there again. Default 5 000. */
  standbyRetryMs?: number
  /** Closes the subscription when aborted. */
  signal?: AbortSignal
}

/**
 * A row change as the consumer sees it. `rowid` is the live view's own stable id (see
 * `MaterializedView`); `seq` numbers the changes 1, 2, 3… over the subscription's life, across
 * reconnections and failovers, so a consumer can check it missed nothing.
 * `source`: `snapshot` (first snapshot into an empty view), `change` (a live change), or
 * `reconcile` (a difference found when a fresh snapshot was compared with the view).
 */
export interface LiveChange extends ViewDelta {
  seq: number
  source: 'snapshot' | 'change' | 'reconcile'
  worker: string
}

/** Why a snapshot was (re)taken. */
export type SyncReason = 'initial' | 'resubscribe' | 'failover' | 'switch'

export type LiveEvent =
  | LiveChange
  | { type: 'columns'; columns: string[] }
  | { type: 'synced'; worker: string; changeId: number; rows: number; reason: SyncReason }

export type LiveState = 'connecting' | 'syncing' | 'live' | 'reconnecting' | 'closed' | 'failed'

/** Where a live subscription stands, and how fresh its data is. */
export interface LiveStatus {
  state: LiveState
  /** The worker it is (or was last) attached to. */
  worker: string | null
  subscriptionId: string | null
  /** The worker-side change id last applied. */
  changeId: number | null
  /** A snapshot from a worker has been applied at least once. */
  synced: boolean
  /** The view holds rows (from a worker or from `initialState`). */
  hasState: boolean
  /** Wall-clock ms when it last heard from its worker (a stream byte, a connection, or a health probe while attached); null if never. */
  lastHeardAt: number | null
  /** Milliseconds since `lastHeardAt` (null if never). */
  lagMs: number | null
  /** The attached worker's own p99 apply lag in ms (from its health answer), when known. */
  workerLagMs: number | null
  /**
   * Estimated ms since the attached worker last heard from another member of its cluster (its
   * `last_contact_ms` plus the time since it said so); null when it does not report it. The view
   * cannot be more current than its worker: this is the bound on how old it may be.
   */
  workerContactAgeMs: number | null
  /** The attached worker is cut off from its cluster (see `maxContactMs`): the view may be arbitrarily old. */
  workerCutOff: boolean
  rows: number
  /** `seq` of the last change emitted. */
  seq: number
  counters: {
    changes: number
    resumes: number
    resubscribes: number
    failovers: number
    switches: number
    /** Voluntary moves given up because the other worker lacked versions the view may reflect. */
    switchesDeferred: number
    missedChanges: number
    errors: number
    /** Failovers that adopted the standby (no snapshot); also counted in `failovers` once reconciled. */
    standbyFailovers: number
  }
  /** The standby subscription on another worker (null: none, or `standby` off). */
  standby: StandbyStatus | null
  lastError: string | null
}

/** A standby subscription, as {@link LiveStatus} reports it. */
export interface StandbyStatus {
  worker: string
  /** Its rows are known (its snapshot ended): a failover to its worker needs no snapshot. */
  ready: boolean
  /** Its worker's change id last applied (null before its snapshot ended). */
  changeId: number | null
  /** Rows its worker has. */
  rows: number
  /** Of those, rows that differ from the view (or match no row of it) at the moment. */
  differing: number
}

export type Listener<T> = (v: T) => void
export interface LiveListeners {
  change: Listener<LiveChange>
  event: Listener<LiveEvent>
  status: Listener<LiveStatus>
  error: Listener<PatinaClientError>
}

/**
 * A live subscription: an async iterator of {@link LiveEvent}s and a materialized view that
 * stays current. Dropped connections resume with `from=<last change id>` on the same worker,
 * with backoff; a gap in change ids re-subscribes and reconciles (never skips); a worker that is
 * gone is replaced by the next one (fresh snapshot reconciled against the view, emitting only
 * real differences), and so is a worker cut off from its cluster; when a nearer worker is
 * healthy again, and has every version the view may reflect, the subscription moves back to it.
 *
 * Each `for await` gets the events emitted after it started (start iterating before awaiting
 * anything to see the first snapshot); read `rows` for the state.
 */
export interface LiveSubscription extends AsyncIterable<LiveEvent> {
  readonly columns: readonly string[]
  /** Local rowid → cells. */
  readonly rows: ReadonlyMap<RowId, JsonSqlValue[]>
  get(rowid: RowId): JsonSqlValue[] | undefined
  /** Rows whose `keyColumns` equal `key` (values compared as text). Needs `keyColumns`. */
  findByKey(key: readonly (string | JsonSqlValue)[]): Array<{ rowid: RowId; cells: JsonSqlValue[] }>
  /** Resolves when the first snapshot from a worker has been applied; rejects if the subscription fails or closes first. */
  readonly ready: Promise<void>
  status(): LiveStatus
  readonly lastHeardAt: number | null
  readonly lagMs: number | null
  on<K extends keyof LiveListeners>(event: K, listener: LiveListeners[K]): () => void
  off<K extends keyof LiveListeners>(event: K, listener: LiveListeners[K]): void
  close(): Promise<void>
}
