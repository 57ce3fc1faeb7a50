import type { MemberInfo } from '@patina/api'
import { Registry } from 'prom-client'
import type { FastifyInstance } from 'fastify'
import { buildApi, type ApiDeps } from '../../src/api/index.js'
import type { HealthSnapshot } from '../../src/api/routes/health.js'
import type { ApiOptionsInit } from '../../src/api/index.js'
import {
  createSubscriptionHub,
  type SubscriptionHub,
  type SubscriptionHubOptions,
} from '../../src/subs/index.js'
import { makeEnv, SCHEMA, type Env } from '../subs/helpers.js'

export interface TestApi {
  env: Env
  app: FastifyInstance
  hub: SubscriptionHub
  registry: Registry
  members: MemberInfo[]
  health: HealthSnapshot
  close(): Promise<void>
}

export const SELF: MemberInfo = {
  actor_id: '00000000-0000-4000-8000-000000000001',
  peer_id: '12D3KooWTest',
  gossip_addrs: ['/ip4/127.0.0.1/tcp/4001'],
  api_addr: '127.0.0.1:8080',
  region: 'local',
  role: 'worker',
  incarnation: 0,
  state: 'alive',
  rtt_ms: null,
  self: true,
}

export async function makeApi(
  opts: ApiOptionsInit = {},
  hubOpts: Partial<SubscriptionHubOptions> = {},
  schema = SCHEMA,
): Promise<TestApi> {
  const env = makeEnv(schema)
  const registry = new Registry()
  const hub = createSubscriptionHub(
    { engine: env.engine, store: env.store, logger: env.logger, registry },
    hubOpts,
  )
  const api = {
    env,
    hub,
    registry,
    members: [SELF],
    health: { queueSize: 0, p99LagSec: 0 } as HealthSnapshot,
  } as TestApi
  const deps: ApiDeps = {
    engine: env.engine,
    logger: env.logger,
    registry,
    members: () => api.members,
    health: () => api.health,
    subscriptions: hub,
  }
  api.app = buildApi(deps, opts)
  api.close = async () => {
    hub.close()
    await api.app.close()
    env.cleanup()
  }
  await api.app.ready()
  return api
}

/** Parses an NDJSON body into objects, checking the framing (one JSON object per line, trailing newline). */
export function ndjson(body: string): Record<string, unknown>[] {
  if (body === '') return []
  if (!body.endsWith('\n'))
    throw new Error(`NDJSON body does not end with a newline: ${JSON.stringify(body.slice(-40))}`)
  return body
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

export async function exec(api: TestApi, statements: unknown[]): Promise<Record<string, unknown>> {
  const res = await api.app.inject({ method: 'POST', url: '/v1/transactions', payload: statements as never })
  if (res.statusCode !== 200) throw new Error(`transaction failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

/** A live NDJSON response: its events as they arrive, over `inject` or a real connection. */
export interface LiveStream<H = Record<string, unknown>> {
  status: number
  headers: H
  events: Record<string, unknown>[]
  /** The NDJSON lines as received (numbers as the server wrote them). */
  raw: string[]
  /** Resolves once at least `n` events arrived (rejects if the stream ends first). */
  waitFor(n: number): Promise<Record<string, unknown>[]>
  ended: Promise<void>
  /** The client goes away: the request is destroyed without a goodbye. */
  abort(): void
}

/** Reads NDJSON events from `source` as they arrive. */
export function liveStream<H>(
  source: NodeJS.ReadableStream,
  status: number,
  headers: H,
  abort: () => void,
): LiveStream<H> {
  const events: Record<string, unknown>[] = []
  const raw: string[] = []
  let buf = ''
  let done = false
  const waiters: (() => void)[] = []
  const wake = (): void => {
    for (const w of waiters.splice(0)) w()
  }
  const ended = new Promise<void>((resolve) => {
    source.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8')
      let nl
      while ((nl = buf.indexOf('\n')) !== -1) {
        raw.push(buf.slice(0, nl))
        events.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>)
        buf = buf.slice(nl + 1)
      }
      wake()
    })
    const end = (): void => {
      done = true
      wake()
      resolve()
    }
    source.on('end', end)
    source.on('close', end)
    source.on('error', end)
  })
  return {
    status,
    headers,
    events,
    raw,
    ended,
    abort,
    async waitFor(n) {
      while (events.length < n) {
        if (done)
          throw new Error(
            `stream ended after ${events.length} events, wanted ${n}: ${JSON.stringify(events)}`,
          )
        await new Promise<void>((r) => waiters.push(r))
      }
      return events
    },
  }
}

/** A live NDJSON response read through `inject({ payloadAsStream: true })`. */
export async function openStream(
  api: TestApi,
  req: { method: 'GET' | 'POST'; url: string; payload?: unknown; headers?: Record<string, string> },
): Promise<LiveStream> {
  const ac = new AbortController()
  const res = await api.app.inject({
    method: req.method,
    url: req.url,
    ...(req.payload !== undefined ? { payload: JSON.stringify(req.payload) } : {}),
    headers: { 'content-type': 'application/json', ...req.headers },
    payloadAsStream: true,
    signal: ac.signal,
  })
  return liveStream(res.stream(), res.statusCode, res.headers as Record<string, unknown>, () => ac.abort())
}
