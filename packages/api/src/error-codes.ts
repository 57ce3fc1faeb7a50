/**
 * Every stable Patina error code, with the HTTP status the API maps it to.
 * `docs/errors.md` has one heading per code, kept in step by a test.
 */
export const ERROR_CODES = {
  PATINA_ERR_SCHEMA_INVALID: 400,
  PATINA_ERR_SCHEMA_DESTRUCTIVE: 400,
  PATINA_ERR_STATEMENT_INVALID: 400,
  PATINA_ERR_STATEMENT_REFUSED: 400,
  PATINA_ERR_NOT_READONLY: 400,
  PATINA_ERR_SQL: 500,
  PATINA_ERR_PARAM_INVALID: 400,
  PATINA_ERR_CHANGESET_INVALID: 400,
  PATINA_ERR_CHANGESET_TOO_LARGE: 413,
  PATINA_ERR_UNKNOWN_TABLE: 400,
  PATINA_ERR_TIMEOUT: 408,
  PATINA_ERR_WAIT_TIMEOUT: 504,
  PATINA_ERR_SUBSCRIPTION_UNSUPPORTED: 400,
  PATINA_ERR_SUBSCRIPTION_NOT_FOUND: 404,
  PATINA_ERR_CHANGE_ID_TOO_OLD: 410,
  PATINA_ERR_SLOW_CONSUMER: 503,
  PATINA_ERR_UNAUTHORIZED: 401,
  PATINA_ERR_FORBIDDEN: 403,
  PATINA_ERR_BODY_TOO_LARGE: 413,
  PATINA_ERR_TOO_MANY_STATEMENTS: 400,
  PATINA_ERR_CONCURRENCY_LIMIT: 503,
  PATINA_ERR_CONFIG_INVALID: 500,
  PATINA_ERR_ADDR_IN_USE: 500,
  PATINA_ERR_BACKUP: 500,
  PATINA_ERR_CLOSED: 503,
  PATINA_ERR_MISSED_CHANGE: 500,
  PATINA_ERR_HTTP: 502,
  PATINA_ERR_NDJSON: 502,
  PATINA_ERR_NO_WORKER: 503,
  PATINA_ERR_CLUSTER_MISMATCH: 400,
  PATINA_ERR_MESSAGE_INVALID: 400,
  PATINA_ERR_INTERNAL: 500,
  PATINA_ERR_BODY_INVALID: 400,
  PATINA_ERR_FROM_WITHOUT_SUBSCRIPTION: 400,
  PATINA_ERR_NOT_FOUND: 404,
  PATINA_ERR_TEMPLATE: 400,
  PATINA_ERR_TEMPLATE_OUTPUT: 500,
  PATINA_ERR_TEMPLATE_COMMAND: 500,
  PATINA_ERR_MISDIRECTED: 421,
  PATINA_ERR_CONNECTION_LIMIT: 503,
  PATINA_ERR_DEADLINE_EXTENSION: 500,
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value)
}

/**
 * Base class of every typed Patina error. Messages name the key, the value and
 * what is allowed.
 */
export class PatinaError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'PatinaError'
    this.code = code
  }
  get status(): number {
    return ERROR_CODES[this.code]
  }
}
