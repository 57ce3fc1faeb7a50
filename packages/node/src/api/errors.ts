import {
  ERROR_CODES,
  PatinaError,
  isErrorCode,
  type ErrorBody,
  type ErrorCode,
  type ExecResponse,
} from '@patina/api'
import type { FastifyInstance } from 'fastify'

/**
 * The one place where errors become HTTP answers: `PatinaError` codes map to statuses
 * through `ERROR_CODES` (`@patina/api`); fastify's own errors (body too large, malformed
 * JSON, unsupported content type) are first turned into typed errors. The engine throws only
 * `PatinaError` (core translates its driver's errors), so anything else here is a fault of
 * ours: `PATINA_ERR_INTERNAL`.
 */
export function toPatinaError(err: unknown): PatinaError {
  if (err instanceof PatinaError) return err
  if (err !== null && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; name?: unknown; statusCode?: unknown }
    const message = typeof e.message === 'string' ? e.message : String(err)
    if (isErrorCode(e.code)) return new PatinaError(e.code, message, { cause: err })
    switch (e.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return new PatinaError(
          'PATINA_ERR_BODY_TOO_LARGE',
          `request body is larger than the limit (${message})`,
          {
            cause: err,
          },
        )
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return new PatinaError('PATINA_ERR_BODY_INVALID', message, { cause: err })
    }
    if (e.name === 'SyntaxError') {
      return new PatinaError('PATINA_ERR_BODY_INVALID', `request body is not valid JSON: ${message}`, {
        cause: err,
      })
    }
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return new PatinaError('PATINA_ERR_BODY_INVALID', message, { cause: err })
    }
    return new PatinaError('PATINA_ERR_INTERNAL', message, { cause: err })
  }
  return new PatinaError('PATINA_ERR_INTERNAL', String(err))
}

export function statusOf(code: ErrorCode): number {
  return ERROR_CODES[code]
}

export function errorBody(err: PatinaError): ErrorBody {
  return { error: err.message, code: err.code }
}

/** Codes answered with 5xx that the request itself caused: logged quietly, without a stack. */
const CLIENT_CAUSED = new Set<string>([
  'PATINA_ERR_SQL',
  'PATINA_ERR_WAIT_TIMEOUT',
  'PATINA_ERR_TIMEOUT',
  'PATINA_ERR_CONCURRENCY_LIMIT',
  'PATINA_ERR_SLOW_CONSUMER',
])

/**
 * Installs the error handler that turns every thrown error into `{"error","code"}` with its
 * status; errors of `execRoute` (`/v1/transactions`) keep Corrosion's `ExecResponse` shape.
 */
export function installErrorHandler(app: FastifyInstance, o: { execRoute: string; actorId: string }): void {
  app.setErrorHandler((err, request, reply) => {
    const pe = toPatinaError(err)
    const status = pe.status
    // Server faults are errors; what the request itself caused (SQL errors, which Corrosion
    // answers with 500, waits that time out, refusals) is logged quietly, without a stack.
    const clientCaused = status < 500 || CLIENT_CAUSED.has(pe.code)
    if (!clientCaused) request.log.error({ err, code: pe.code }, 'request failed')
    else request.log.debug({ code: pe.code, msg: pe.message }, 'request refused')
    if (request.routeOptions.url === o.execRoute && status !== 401 && status !== 403) {
      const body: ExecResponse = {
        results: [{ error: pe.message, code: pe.code }],
        time: 0,
        version: null,
        actor_id: o.actorId,
      }
      return reply.code(status).type('application/json').send(body)
    }
    return reply.code(status).type('application/json').send(errorBody(pe))
  })
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .type('application/json')
      .send({
        error: `no route for ${request.method} ${request.url}`,
        code: 'PATINA_ERR_NOT_FOUND',
      } satisfies ErrorBody)
  })
}
