import { PatinaError } from '@patina/api'

/** Role of an API bearer token: `read` may query, subscribe and read stats; `write` may also write. */
export type TokenRole = 'read' | 'write'

export interface ApiToken {
  token: string
  role: TokenRole
}

/** Routes that have their own concurrency limit. */
export type LimitedRoute = 'transactions' | 'queries' | 'subscriptions' | 'updates' | 'table_stats' | 'health'

export interface ApiOptions {
  /** Largest accepted request body, in bytes (413 above it). */
  bodyLimitBytes: number
  /** Most statements accepted in one `/v1/transactions` request. */
  maxStatementsPerTransaction: number
  /**
   * Requests allowed in flight per route; a request counts until its response has been
   * completely sent (for streams: until the stream ends). Above it the answer is 503 with the
   * plain body `max concurrency limit reached`, as Corrosion. Defaults: Corrosion's 128 for
   * transactions and queries, 4 for `table_stats` and `health`; subscription and updates
   * streams are long-lived, so their default is much higher (Corrosion's limit only covers
   * the set-up of a stream, not its lifetime).
   */
  concurrency: Record<LimitedRoute, number>
  /**
   * Bearer tokens. Empty = the API is open (as Corrosion without `api.authorization`).
   * Otherwise every request needs `Authorization: Bearer <token>` (401, empty body) and
   * `/v1/transactions` needs a `write` token (403).
   */
  tokens: ApiToken[]
  /** Default `/v1/queries` deadline in seconds when the request gives none (Corrosion: 60; 0 = `maxTimeoutSec`). */
  defaultQueryTimeoutSec: number
  /** Largest deadline of any client statement, in seconds (a larger `timeout` is cut to it). */
  maxTimeoutSec: number
  /** Longest a client statement may hold the main thread (transactions), in milliseconds. */
  mainThreadMaxMs: number
  /**
   * Most `/v1/transactions` requests run as one SQLite transaction (group commit,
   * `group-commit.ts`); 1 runs each request alone.
   */
  maxTransactionsPerGroup: number
  /** Default read-your-writes wait when `wait_timeout_ms` is not given, in milliseconds. */
  defaultWaitTimeoutMs: number
  /** Largest accepted `wait_timeout_ms`, in milliseconds. */
  maxWaitTimeoutMs: number
  /**
   * Bytes of NDJSON a query, subscription or updates stream may hold unsent for a slow
   * client. Beyond it the stream gets an `error` event and ends (the client resumes with
   * `from`); other streams are not slowed down.
   */
  maxStreamBufferBytes: number
  /**
   * This endpoint's name (Corrosion `api.endpoint_name`). When set, a request whose
   * `x-corrosion-requested-endpoint-name` header names another endpoint gets 421; a request
   * without the header passes.
   */
  endpointName?: string
}

/** Defaults of {@link ApiOptions}. */
export const DEFAULT_API_OPTIONS: Readonly<ApiOptions> = Object.freeze({
  bodyLimitBytes: 8 * 1024 * 1024,
  maxStatementsPerTransaction: 1000,
  concurrency: Object.freeze({
    transactions: 128,
    queries: 128,
    subscriptions: 10_000,
    updates: 10_000,
    table_stats: 4,
    health: 4,
  }),
  tokens: [],
  defaultQueryTimeoutSec: 60,
  maxTimeoutSec: 300,
  mainThreadMaxMs: 400,
  maxTransactionsPerGroup: 64,
  defaultWaitTimeoutMs: 5_000,
  maxWaitTimeoutMs: 60_000,
  maxStreamBufferBytes: 16 * 1024 * 1024,
}) as Readonly<ApiOptions>

export type ApiOptionsInit = Partial<Omit<ApiOptions, 'concurrency'>> & {
  concurrency?: Partial<Record<LimitedRoute, number>>
}

/** Merges `init` over the defaults, validates and freezes. */
export function createApiOptions(init: ApiOptionsInit = {}): Readonly<ApiOptions> {
  const opts: ApiOptions = {
    ...DEFAULT_API_OPTIONS,
    ...stripUndefined(init),
    concurrency: { ...DEFAULT_API_OPTIONS.concurrency, ...stripUndefined(init.concurrency ?? {}) },
    tokens: [...(init.tokens ?? [])],
  }
  validateApiOptions(opts)
  return Object.freeze(opts)
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

function positiveInt(key: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) {
    throw new PatinaError('PATINA_ERR_CONFIG_INVALID', `api.${key} value ${v} must be an integer >= ${min}`)
  }
}

export function validateApiOptions(o: ApiOptions): void {
  positiveInt('bodyLimitBytes', o.bodyLimitBytes, 1)
  positiveInt('maxStatementsPerTransaction', o.maxStatementsPerTransaction, 1)
  positiveInt('defaultQueryTimeoutSec', o.defaultQueryTimeoutSec, 0)
  positiveInt('maxTimeoutSec', o.maxTimeoutSec, 1)
  positiveInt('mainThreadMaxMs', o.mainThreadMaxMs, 1)
  positiveInt('maxTransactionsPerGroup', o.maxTransactionsPerGroup, 1)
  positiveInt('defaultWaitTimeoutMs', o.defaultWaitTimeoutMs, 0)
  positiveInt('maxWaitTimeoutMs', o.maxWaitTimeoutMs, 0)
  positiveInt('maxStreamBufferBytes', o.maxStreamBufferBytes, 1024)
  for (const [k, v] of Object.entries(o.concurrency)) positiveInt(`concurrency.${k}`, v, 1)
  if (o.endpointName !== undefined && (typeof o.endpointName !== 'string' || o.endpointName === '')) {
    throw new PatinaError('PATINA_ERR_CONFIG_INVALID', 'api.endpoint_name must be a non-empty string')
  }
  for (const [i, t] of o.tokens.entries()) {
    if (typeof t.token !== 'string' || t.token.length === 0) {
      throw new PatinaError('PATINA_ERR_CONFIG_INVALID', `api.tokens[${i}].token must be a non-empty string`)
    }
    if (t.role !== 'read' && t.role !== 'write') {
      throw new PatinaError(
        'PATINA_ERR_CONFIG_INVALID',
        `api.tokens[${i}].role value ${JSON.stringify(t.role)} must be 'read' or 'write'`,
      )
    }
  }
}
