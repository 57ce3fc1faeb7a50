/**
 * Real HTTP clients for API tests, written against Node's own `http` (HTTP/1.1) and `http2`
 * (h2c with prior knowledge, one session carrying every request) modules, and a helper that
 * serves a test API on a loopback port with `startApiServer`.
 */
import http from 'node:http'
import http2 from 'node:http2'
import type { ApiOptionsInit } from '../../src/api/index.js'
import {
  DEFAULT_SERVER_LIMITS,
  startApiServer,
  type ApiServer,
  type ApiServerLimits,
} from '../../src/api/server.js'
import type { SubscriptionHubOptions } from '../../src/subs/index.js'
import { liveStream, makeApi, type LiveStream as Stream, type TestApi } from './helpers.js'

export const PROTOCOLS = ['http1', 'h2c'] as const
export type Proto = (typeof PROTOCOLS)[number]

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
  json(): Record<string, unknown> & { error?: string }
}

/** A live stream over a real connection: headers as Node gives them. */
export type LiveStream = Stream<Answer['headers']>

export interface Conn {
  readonly proto: Proto
  request(method: string, path: string, body?: string, headers?: Record<string, string>): Promise<Answer>
  stream(method: string, path: string, body?: string, headers?: Record<string, string>): Promise<LiveStream>
  /** HTTP/2 only: a PING answered by the server (resolves with the round trip in ms). */
  ping(): Promise<number>
  close(): void
}

const answer = (status: number, headers: Answer['headers'], body: string): Answer => ({
  status,
  headers,
  body,
  json: () => JSON.parse(body) as Record<string, unknown>,
})

function http1Conn(base: string): Conn {
  const agent = new http.Agent({ keepAlive: true })
  const open = (method: string, path: string, body: string | undefined, headers: Record<string, string>) =>
    new Promise<{ req: http.ClientRequest; res: http.IncomingMessage }>((resolve, reject) => {
      const req = http.request(base + path, { method, agent, headers }, (res) => resolve({ req, res }))
      req.on('error', reject)
      req.end(body)
    })
  return {
    proto: 'http1',
    async request(method, path, body, headers = {}) {
      const { res } = await open(method, path, body, headers)
      let text = ''
      for await (const c of res) text += (c as Buffer).toString('utf8')
      return answer(res.statusCode ?? 0, res.headers, text)
    },
    async stream(method, path, body, headers = {}) {
      // A stream gets its own connection, as an HTTP/1.1 client must.
      const { req, res } = await open(method, path, body, { ...headers, connection: 'close' })
      return liveStream(res, res.statusCode ?? 0, res.headers, () => {
        req.destroy()
        res.destroy()
      })
    },
    ping: () => Promise.reject(new Error('no PING in HTTP/1.1')),
    close: () => agent.destroy(),
  }
}

function h2cConn(base: string): Conn {
  const session = http2.connect(base)
  session.on('error', () => {})
  const open = (method: string, path: string, body: string | undefined, headers: Record<string, string>) =>
    new Promise<{ stream: http2.ClientHttp2Stream; headers: http2.IncomingHttpHeaders }>(
      (resolve, reject) => {
        const stream = session.request({ ':method': method, ':path': path, ...headers })
        stream.on('response', (h) => resolve({ stream, headers: h }))
        stream.on('error', reject)
        stream.end(body)
      },
    )
  return {
    proto: 'h2c',
    async request(method, path, body, headers = {}) {
      const { stream, headers: h } = await open(method, path, body, headers)
      let text = ''
      for await (const c of stream) text += (c as Buffer).toString('utf8')
      return answer(Number(h[':status']), h, text)
    },
    async stream(method, path, body, headers = {}) {
      const { stream, headers: h } = await open(method, path, body, headers)
      return liveStream(stream, Number(h[':status']), h, () => stream.close(http2.constants.NGHTTP2_CANCEL))
    },
    ping: () =>
      new Promise((resolve, reject) => {
        session.ping((err, ms) => (err ? reject(err) : resolve(ms)))
      }),
    close: () => session.destroy(),
  }
}

export function connect(proto: Proto, base: string): Conn {
  return proto === 'h2c' ? h2cConn(base) : http1Conn(base)
}

export interface ServedApi {
  api: TestApi
  server: ApiServer
  conn: Conn
  /** A JSON POST: `body` is sent as `JSON.stringify(body)`, or as is when it is a string and `raw`. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Answer>
  close(): Promise<void>
}

/** A test API (see `makeApi`) served over a loopback port, with a client of `proto`. */
export async function serveApi(
  proto: Proto,
  opts: ApiOptionsInit = {},
  schema?: string,
  limits: Partial<ApiServerLimits> = {},
  hubOpts: Partial<SubscriptionHubOptions> = {},
): Promise<ServedApi> {
  const api = await makeApi(opts, hubOpts, schema)
  const server = await startApiServer(
    api.app,
    { host: '127.0.0.1', port: 0 },
    { ...DEFAULT_SERVER_LIMITS, ...limits },
  )
  const conn = connect(proto, server.url)
  return {
    api,
    server,
    conn,
    post: (path, body, headers = {}) =>
      conn.request('POST', path, body === undefined ? undefined : JSON.stringify(body), {
        'content-type': 'application/json',
        ...headers,
      }),
    async close() {
      conn.close()
      await server.close()
      await api.close()
    },
  }
}
