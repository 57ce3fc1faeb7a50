import { describe, expect, it } from 'vitest'
import { deadlineFor, deadlineMessage, type Deadline, type StatementKind } from '../../src/api/deadlines.js'

const LIMITS = { queryDefaultSecs: 60, maxSecs: 300, mainThreadMaxMs: 400 }

describe('deadlineFor', () => {
  const table: [StatementKind, number | undefined, Partial<typeof LIMITS>, Deadline][] = [
    // queries: the request's timeout, else the default, never above the maximum
    ['query', undefined, {}, { ms: 60_000, source: 'query_timeout_secs' }],
    ['query', 2, {}, { ms: 2_000, source: 'timeout' }],
    ['query', 0.25, {}, { ms: 250, source: 'timeout' }],
    ['query', 120, {}, { ms: 120_000, source: 'timeout' }],
    ['query', 10_000, {}, { ms: 300_000, source: 'timeout_max_secs' }],
    ['query', undefined, { queryDefaultSecs: 0 }, { ms: 300_000, source: 'timeout_max_secs' }],
    ['query', undefined, { queryDefaultSecs: 900 }, { ms: 300_000, source: 'timeout_max_secs' }],
    ['query', 300, {}, { ms: 300_000, source: 'timeout' }],
    // queries never get the main-thread bound: they run on read threads
    ['query', 1, { mainThreadMaxMs: 10 }, { ms: 1_000, source: 'timeout' }],
    // transactions: the main-thread bound, a shorter timeout wins
    ['transaction', undefined, {}, { ms: 400, source: 'main_thread_max_ms' }],
    ['transaction', 5, {}, { ms: 400, source: 'main_thread_max_ms' }],
    ['transaction', 0.1, {}, { ms: 100, source: 'timeout' }],
    ['transaction', 0.4, {}, { ms: 400, source: 'timeout' }],
    ['transaction', undefined, { mainThreadMaxMs: 600_000 }, { ms: 300_000, source: 'timeout_max_secs' }],
    // subscription statements: the main-thread bound (no request timeout applies)
    ['subscription', undefined, {}, { ms: 400, source: 'main_thread_max_ms' }],
    ['subscription', 0.05, {}, { ms: 400, source: 'main_thread_max_ms' }],
  ]
  it.each(table)('%s with timeout %s and %o → %o', (kind, timeout, limits, want) => {
    expect(deadlineFor(kind, timeout, { ...LIMITS, ...limits })).toEqual(want)
  })
})

describe('deadlineMessage', () => {
  it('names the limit and what to do', () => {
    expect(deadlineMessage('query', { ms: 2000, source: 'timeout' })).toBe(
      "query stopped at its deadline of 2000 ms, the request's timeout=2",
    )
    const tx = deadlineMessage('transaction', { ms: 400, source: 'main_thread_max_ms' })
    expect(tx).toContain('nothing was written')
    expect(tx).toContain('split it into smaller transactions')
    expect(tx).toContain('api.limits.main_thread_max_ms')
    expect(deadlineMessage('query', { ms: 60_000, source: 'query_timeout_secs' })).toContain(
      'api.limits.query_timeout_secs',
    )
    expect(deadlineMessage('query', { ms: 300_000, source: 'timeout_max_secs' })).toContain(
      'api.limits.timeout_max_secs',
    )
    expect(deadlineMessage('subscription', { ms: 400, source: 'main_thread_max_ms' })).toMatch(
      /^subscription statement stopped .*api\.limits\.main_thread_max_ms/,
    )
  })
})
