import { describe, expect, it } from 'vitest'
import type { MemberInfo } from '@patina/api'
import {
  normalizeWorkerUrl,
  rankWorkers,
  shouldSwitchWorker,
  smoothRtt,
  workerUrlsFromMembers,
  type WorkerStatus,
} from '../src/workers.js'
import { createWorkerPool, POOL_DEFAULTS, type ProbeResult } from '../src/pool.js'
import { UNKNOWN_FRESHNESS } from '../src/freshness.js'

const w = (
  url: string,
  state: WorkerStatus['state'],
  rttMs: number | null,
  order = 0,
  lastFailureAt: number | null = null,
): WorkerStatus => ({
  url,
  source: 'static',
  order,
  state,
  rttMs,
  p99LagMs: null,
  freshness: UNKNOWN_FRESHNESS,
  reportedAt: null,
  failures: 0,
  lastProbeAt: null,
  lastFailureAt,
})

describe('rankWorkers', () => {
  it.each([
    [
      'healthy before unknown before unhealthy before down',
      [w('d', 'down', 1), w('u', 'unhealthy', 1), w('n', 'unknown', null), w('h', 'healthy', 50)],
      ['h', 'n', 'u', 'd'],
    ],
    [
      'nearest first within a tier',
      [w('a', 'healthy', 30, 0), w('b', 'healthy', 5, 1), w('c', 'healthy', 10, 2)],
      ['b', 'c', 'a'],
    ],
    [
      'measured before unmeasured, then configuration order',
      [w('a', 'unknown', null, 0), w('b', 'unknown', null, 1), w('c', 'unknown', 3, 2)],
      ['c', 'a', 'b'],
    ],
    [
      'down workers: least recently failed first',
      [w('a', 'down', 1, 0, 300), w('b', 'down', 1, 1, 100), w('c', 'down', 1, 2, 200)],
      ['b', 'c', 'a'],
    ],
  ])('%s', (_name, input, expected) => {
    expect(rankWorkers(input).map((x) => x.url)).toEqual(expected)
  })
})

describe('shouldSwitchWorker', () => {
  const policy = { switchMarginMs: 5, switchRatio: 0.7 }
  it.each([
    ['a better tier always wins', w('cur', 'unhealthy', 1), w('c', 'healthy', 100), true],
    ['a worse tier never wins', w('cur', 'healthy', 100), w('c', 'unhealthy', 1), false],
    ['a down candidate never wins', w('cur', 'unhealthy', 100), w('c', 'down', 1), false],
    ['much nearer in the same tier wins', w('cur', 'healthy', 150), w('c', 'healthy', 2), true],
    ['slightly nearer is not enough (margin)', w('cur', 'healthy', 6), w('c', 'healthy', 2), false],
    ['nearer by margin but not by ratio', w('cur', 'healthy', 100), w('c', 'healthy', 90), false],
    ['unknown RTT does not move', w('cur', 'healthy', 100), w('c', 'healthy', null), false],
    ['the same worker does not move', w('cur', 'healthy', 100), w('cur', 'healthy', 1), false],
  ])('%s', (_name, cur, cand, expected) => {
    expect(shouldSwitchWorker(cur, cand, policy)).toBe(expected)
  })
  it('with no current worker, any worker that is not down', () => {
    expect(shouldSwitchWorker(undefined, w('c', 'unknown', null))).toBe(true)
    expect(shouldSwitchWorker(undefined, w('c', 'down', null))).toBe(false)
  })
})

describe('helpers', () => {
  it('smooths RTT', () => {
    expect(smoothRtt(null, 10)).toBe(10)
    expect(smoothRtt(10, 20, 0.5)).toBe(15)
  })
  it.each([
    ['127.0.0.1:8080', undefined, 'http://127.0.0.1:8080'],
    ['http://a:1/', undefined, 'http://a:1'],
    ['https://a.example', undefined, 'https://a.example'],
    ['0.0.0.0:9000', '10.0.0.5', 'http://10.0.0.5:9000'],
    ['[::1]:9000', undefined, 'http://[::1]:9000'],
  ])('normalizes %s', (addr, host, expected) => {
    expect(normalizeWorkerUrl(addr, host)).toBe(expected)
  })
  it('lists alive and suspect workers with an API address', () => {
    const m = (name: string, over: Partial<MemberInfo>): MemberInfo => ({
      actor_id: name,
      peer_id: name,
      gossip_addrs: [],
      api_addr: `127.0.0.1:${name}`,
      region: 'r',
      role: 'worker',
      incarnation: 0,
      state: 'alive',
      rtt_ms: null,
      self: false,
      ...over,
    })
    expect(
      workerUrlsFromMembers(
        [
          m('1', {}),
          m('2', { state: 'suspect' }),
          m('3', { state: 'down' }),
          m('4', { role: 'edge' }),
          m('5', { api_addr: null }),
          m('1', {}),
        ],
        'http://127.0.0.1:1',
      ),
    ).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2'])
  })
})

describe('worker pool', () => {
  it('ranks by probed RTT and health, marks down after repeated probe failures, and recovers', async () => {
    let t = 0
    const answers = new Map<string, ProbeResult & { rtt: number }>([
      ['http://a:1', { reachable: true, ok: true, p99LagMs: 5, rtt: 40 }],
      ['http://b:1', { reachable: true, ok: true, p99LagMs: null, rtt: 2 }],
      ['http://c:1', { reachable: true, ok: false, p99LagMs: null, rtt: 1 }],
    ])
    const pool = createWorkerPool(
      {
        prober: {
          async health(url) {
            const a = answers.get(url)!
            t += a.rtt
            return a
          },
          async members() {
            return []
          },
        },
        clock: { now: () => 1000, monotonicMs: () => t },
      },
      { ...POOL_DEFAULTS, workers: ['http://a:1', 'http://b:1', 'http://c:1'] },
    )
    // before any probe: configuration order
    expect(pool.best()?.url).toBe('http://a:1')
    // the fake clock advances by each answer's rtt when it is probed: measured RTTs are a≈43, b≈3, c≈1
    await pool.probeNow()
    expect(pool.list().map((x) => [x.url, x.state])).toEqual([
      ['http://b:1', 'healthy'],
      ['http://a:1', 'healthy'],
      ['http://c:1', 'unhealthy'],
    ])
    expect(pool.get('http://a:1')?.p99LagMs).toBe(5)
    answers.set('http://b:1', { reachable: false, ok: false, p99LagMs: null, rtt: 0 })
    await pool.probeNow()
    expect(pool.get('http://b:1')?.state).toBe('healthy') // one failure is not enough
    await pool.probeNow()
    expect(pool.get('http://b:1')?.state).toBe('down')
    expect(pool.best()?.url).toBe('http://a:1')
    answers.set('http://b:1', { reachable: true, ok: true, p99LagMs: null, rtt: 2 })
    await pool.probeNow()
    expect(pool.best()?.url).toBe('http://b:1')
    pool.markDown('http://b:1')
    expect(pool.best()?.url).toBe('http://a:1')
    pool.close()
  })

  it('discovers workers through cluster members', async () => {
    const pool = createWorkerPool(
      {
        prober: {
          async health() {
            return { reachable: true, ok: true, p99LagMs: null }
          },
          async members(url) {
            expect(url).toBe('http://127.0.0.1:1')
            return [1, 2, 3].map((p) => ({
              actor_id: String(p),
              peer_id: String(p),
              gossip_addrs: [],
              api_addr: `0.0.0.0:${p}`,
              region: 'r',
              role: 'worker' as const,
              incarnation: 0,
              state: 'alive' as const,
              rtt_ms: null,
              self: p === 1,
            }))
          },
        },
        clock: { now: () => 0, monotonicMs: () => 0 },
      },
      { ...POOL_DEFAULTS, discover: true, workers: ['http://127.0.0.1:1'] },
    )
    await pool.probeNow()
    expect(
      pool
        .list()
        .map((x) => x.url)
        .sort(),
    ).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:3'])
    pool.close()
  })
})
