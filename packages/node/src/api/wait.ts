import { PatinaError, WAIT_PARAMS } from '@patina/api'
import type { StateEngine } from '@patina/core'
import type { ApiOptions } from './options.js'

export interface WaitSpec {
  actorId: string
  version: number
  timeoutMs: number
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Reads `wait_actor`, `wait_version` and `wait_timeout_ms` from a query string (null when absent). */
export function parseWaitParams(
  query: Record<string, unknown>,
  opts: Pick<ApiOptions, 'defaultWaitTimeoutMs' | 'maxWaitTimeoutMs'>,
): WaitSpec | null {
  const actor = query[WAIT_PARAMS.actor]
  const version = query[WAIT_PARAMS.version]
  const timeout = query[WAIT_PARAMS.timeoutMs]
  if (actor === undefined && version === undefined) {
    if (timeout !== undefined) {
      throw new PatinaError(
        'PATINA_ERR_PARAM_INVALID',
        `${WAIT_PARAMS.timeoutMs} needs ${WAIT_PARAMS.actor} and ${WAIT_PARAMS.version}`,
      )
    }
    return null
  }
  if (typeof actor !== 'string' || !UUID.test(actor)) {
    throw new PatinaError(
      'PATINA_ERR_PARAM_INVALID',
      `${WAIT_PARAMS.actor} value ${JSON.stringify(actor ?? null)} must be an actor id (UUID) given with ${WAIT_PARAMS.version}`,
    )
  }
  const v = typeof version === 'string' && /^\d+$/.test(version) ? Number(version) : NaN
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new PatinaError(
      'PATINA_ERR_PARAM_INVALID',
      `${WAIT_PARAMS.version} value ${JSON.stringify(version ?? null)} must be an integer >= 1`,
    )
  }
  let timeoutMs = opts.defaultWaitTimeoutMs
  if (timeout !== undefined) {
    const t = typeof timeout === 'string' && /^\d+$/.test(timeout) ? Number(timeout) : NaN
    if (!Number.isSafeInteger(t) || t > opts.maxWaitTimeoutMs) {
      throw new PatinaError(
        'PATINA_ERR_PARAM_INVALID',
        `${WAIT_PARAMS.timeoutMs} value ${JSON.stringify(timeout)} must be an integer between 0 and ${opts.maxWaitTimeoutMs}`,
      )
    }
    timeoutMs = t
  }
  return { actorId: actor.toLowerCase(), version: v, timeoutMs }
}

/**
 * Resolves once every version of `actorId` up to `version` is applied here (checked at once and
 * after every commit), or rejects with `PATINA_ERR_WAIT_TIMEOUT` after `timeoutMs`. The whole
 * prefix, not the one version: versions of an actor can arrive out of order, and a reader
 * waiting for its second write must not see the first one missing (a row with only the second
 * write's columns is a state that never existed).
 */
export function waitForVersion(engine: StateEngine, spec: WaitSpec, signal?: AbortSignal): Promise<void> {
  const applied = (): boolean => engine.containsThrough(spec.actorId, spec.version)
  if (applied()) return Promise.resolve()
  return new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      unsubscribe()
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    const onAbort = (): void => {
      cleanup()
      reject(new PatinaError('PATINA_ERR_CLOSED', 'request aborted while waiting for a version'))
    }
    const unsubscribe = engine.onCommit(() => {
      if (applied()) {
        cleanup()
        resolve()
      }
    })
    const timer = setTimeout(() => {
      cleanup()
      if (applied()) return resolve()
      reject(
        new PatinaError(
          'PATINA_ERR_WAIT_TIMEOUT',
          `versions 1..${spec.version} of actor ${spec.actorId} were not all applied on this node within ${WAIT_PARAMS.timeoutMs}=${spec.timeoutMs}`,
        ),
      )
    }, spec.timeoutMs)
    signal?.addEventListener('abort', onAbort)
  })
}

/** Parses `?timeout=<secs>` (Corrosion): a non-negative integer number of seconds. */
export function parseTimeoutSec(query: Record<string, unknown>): number | undefined {
  const t = query['timeout']
  if (t === undefined) return undefined
  const n = typeof t === 'string' && /^\d+$/.test(t) ? Number(t) : NaN
  if (!Number.isSafeInteger(n)) {
    throw new PatinaError(
      'PATINA_ERR_PARAM_INVALID',
      `timeout value ${JSON.stringify(t)} must be a whole number of seconds >= 0`,
    )
  }
  return n
}
