/**
 * The deadline of every statement a client sends, as a pure decision: which limit applies to a
 * request, and what the client is told when its statement is stopped there. SQLite enforces the
 * deadline (`@patina/core`, `timeoutMs`); this module only chooses it and words the answer.
 *
 * - Queries run on read threads: the request's `timeout`, else `api.limits.query_timeout_secs`,
 *   never more than `api.limits.timeout_max_secs`.
 * - Transactions and subscription statements run on the node's main thread, which also answers
 *   membership probes: never longer than `api.limits.main_thread_max_ms`, which stays below the
 *   time after which peers suspect a silent node (docs/reliability.md). A transaction's
 *   `timeout` can only shorten that.
 */

import type { Counter, Registry } from 'prom-client'
import { counterIn } from '../runtime/metric-registry.js'

export type StatementKind = 'query' | 'transaction' | 'subscription'

/**
 * `patina_statement_interrupts_total{kind}`: client statements stopped at their deadline, by
 * kind (`query`, `transaction`, `subscription`). One counter per registry, shared by the API
 * and the subscription hub.
 */
export function statementInterrupts(registry: Registry): Counter<'kind'> {
  return counterIn(registry, {
    name: 'patina_statement_interrupts_total',
    help: 'Client statements stopped at their deadline inside SQLite, by kind (query, transaction, subscription)',
    labelNames: ['kind'],
  })
}

export interface DeadlineLimits {
  /** Deadline of a query without `timeout`, in seconds (0: the maximum). */
  queryDefaultSecs: number
  /** Largest deadline of any statement, in seconds. */
  maxSecs: number
  /** Longest a statement may hold the main thread, in milliseconds. */
  mainThreadMaxMs: number
}

/** Which limit set the deadline: the request's `timeout` or one of the settings. */
export type DeadlineSource = 'timeout' | 'query_timeout_secs' | 'timeout_max_secs' | 'main_thread_max_ms'

export interface Deadline {
  ms: number
  source: DeadlineSource
}

/** The deadline of a statement of `kind`, given the request's `timeout` in seconds (if any). */
export function deadlineFor(
  kind: StatementKind,
  requestTimeoutSecs: number | undefined,
  limits: DeadlineLimits,
): Deadline {
  const candidates: Deadline[] = [{ ms: limits.maxSecs * 1000, source: 'timeout_max_secs' }]
  if (kind !== 'query') candidates.push({ ms: limits.mainThreadMaxMs, source: 'main_thread_max_ms' })
  if (requestTimeoutSecs !== undefined && requestTimeoutSecs > 0 && kind !== 'subscription') {
    candidates.push({ ms: Math.ceil(requestTimeoutSecs * 1000), source: 'timeout' })
  } else if (kind === 'query' && limits.queryDefaultSecs > 0) {
    candidates.push({ ms: limits.queryDefaultSecs * 1000, source: 'query_timeout_secs' })
  }
  // The smallest wins; on a tie the request's own timeout is named.
  return candidates.reduce((a, b) => (b.ms < a.ms || (b.ms === a.ms && b.source === 'timeout') ? b : a))
}

const WHAT: Record<StatementKind, string> = {
  query: 'query',
  transaction: 'transaction',
  subscription: 'subscription statement',
}

/** The message a client gets when its statement was stopped at `d`. */
export function deadlineMessage(kind: StatementKind, d: Deadline): string {
  const head = `${WHAT[kind]} stopped at its deadline of ${d.ms} ms`
  const undone = kind === 'transaction' ? '; nothing was written (the transaction was rolled back)' : ''
  switch (d.source) {
    case 'timeout':
      return `${head}, the request's timeout=${d.ms / 1000}${undone}`
    case 'query_timeout_secs':
      return `${head}, the deadline of queries without a timeout (api.limits.query_timeout_secs)${undone}; pass a larger ?timeout= (up to api.limits.timeout_max_secs) or narrow the query`
    case 'timeout_max_secs':
      return `${head}, the server's largest deadline (api.limits.timeout_max_secs)${undone}; narrow the query or raise the limit`
    case 'main_thread_max_ms':
      return kind === 'transaction'
        ? `${head}, the longest a write may hold the node's main thread (api.limits.main_thread_max_ms)${undone}; split it into smaller transactions, or raise api.limits.main_thread_max_ms (above gossip.probe_timeout_ms, peers may take the node for down while it writes)`
        : `${head}, the longest a statement may hold the node's main thread (api.limits.main_thread_max_ms); narrow the query, or raise api.limits.main_thread_max_ms`
  }
}
