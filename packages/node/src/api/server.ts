/**
 * The API listener: HTTP/1.1 and cleartext HTTP/2 with prior knowledge (h2c) on the same port,
 * chosen per connection by its first bytes, as Corrosion's server does. Corrosion's own client
 * (`corro-client`, the `corrosion` CLI, templates, consul sync) speaks only h2c; curl and most
 * HTTP libraries speak HTTP/1.1. Both reach the same fastify routes, with the same limits,
 * auth and errors.
 *
 * The listener also bounds what a slow or greedy client can hold:
 * - a connection must send its first request's headers within `headerTimeoutMs`;
 * - a request's body must arrive within `bodyTimeoutMs` of its headers (HTTP/1.1: headers and
 *   body within the sum; the answer is 408);
 * - an HTTP/1.1 keep-alive connection or an HTTP/2 session with no request in flight is closed
 *   after `idleTimeoutMs` (HTTP/2 pings do not count: a session exists to carry requests);
 * - one client address holds at most `connectionsPerAddressMax` connections; a request on an
 *   extra connection is answered 503 `PATINA_ERR_CONNECTION_LIMIT` and the connection closed;
 * - an HTTP/2 session carries at most `http2MaxStreams` streams at once.
 * Long-lived responses (subscriptions, updates) are never cut by these: once a request has been
 * received, the connection stays as long as the response streams.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2'
import net, { type AddressInfo, type Socket } from 'node:net'
import { ERROR_CODES, type ErrorBody } from '@patina/api'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Counter, Gauge, Registry } from 'prom-client'
import { counterIn, gaugeIn } from '../runtime/metric-registry.js'
import { componentLogger } from '../runtime/log.js'

export interface ApiServerLimits {
  /** Time for a new connection to send its first request, and for a request's headers to arrive, in ms. */
  headerTimeoutMs: number
  /** Time for a request's body to arrive once its headers have, in ms. */
  bodyTimeoutMs: number
  /** An HTTP/1.1 keep-alive connection or HTTP/2 session without a request in flight is closed after this, in ms. */
  idleTimeoutMs: number
  /** Open connections one client address may hold. */
  connectionsPerAddressMax: number
  /** Concurrent streams of one HTTP/2 session (its SETTINGS_MAX_CONCURRENT_STREAMS). */
  http2MaxStreams: number
}

export const DEFAULT_SERVER_LIMITS: Readonly<ApiServerLimits> = Object.freeze({
  headerTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  connectionsPerAddressMax: 1_024,
  http2MaxStreams: 1_000,
})

export interface ApiServer {
  /** `http://host:port` of the listener (a wildcard host is shown as loopback). */
  readonly url: string
  readonly address: AddressInfo
  /** Open connections by protocol (`pending`: first bytes not read yet). */
  connections(): { pending: number; http1: number; http2: number }
  /** Stops listening and closes every connection (streams end). */
  close(): Promise<void>
}

/** First bytes of every HTTP/2 connection (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

/** `h2` when `head` is the whole preface, `http1` as soon as it cannot be, `null` while undecided. */
export function sniffProtocol(head: Buffer): 'h2' | 'http1' | null {
  const n = Math.min(head.length, H2_PREFACE.length)
  if (head.subarray(0, n).compare(H2_PREFACE, 0, n) !== 0) return 'http1'
  return n === H2_PREFACE.length ? 'h2' : null
}

/** A client address as one key: IPv4-mapped IPv6 addresses count as their IPv4 address. */
export function addressKey(remote: string | undefined): string {
  if (remote === undefined) return '?'
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote
}

interface ConnMeta {
  key: string
  refused: boolean
  protocol: 'pending' | 'http1' | 'http2'
}

type AnyRequest = IncomingMessage | Http2ServerRequest
type AnyResponse = ServerResponse | Http2ServerResponse

export interface ApiServerDeps {
  logger: Logger
  registry?: Registry
}

/**
 * Serves `app` (made ready first) on `host:port` over HTTP/1.1 and h2c. Port 0 picks a free port.
 */
export async function startApiServer(
  app: FastifyInstance,
  listen: { host: string; port: number },
  limits: Readonly<ApiServerLimits> = DEFAULT_SERVER_LIMITS,
  deps?: ApiServerDeps,
): Promise<ApiServer> {
  await app.ready()
  const log = deps === undefined ? undefined : componentLogger(deps.logger, 'api-server')
  const metrics = deps?.registry ? serverMetrics(deps.registry) : undefined
  const route = app.routing.bind(app) as (req: AnyRequest, res: AnyResponse) => void

  const sockets = new Map<Socket, ConnMeta>()
  const perAddress = new Map<string, number>()
  const sessionMeta = new WeakMap<Http2Session, ConnMeta>()
  const sessions = new Set<Http2Session>()
  let pendingMeta: ConnMeta | undefined

  const refuseBody = (max: number): string =>
    JSON.stringify({
      error: `too many connections from your address (api.limits.connections_per_address_max = ${max}); reuse connections or use HTTP/2`,
      code: 'PATINA_ERR_CONNECTION_LIMIT',
    } satisfies ErrorBody)

  const handle = (req: AnyRequest, res: AnyResponse): void => {
    const h2 = 'stream' in req
    const meta = h2
      ? sessionMeta.get((req as Http2ServerRequest).stream.session as Http2Session)
      : sockets.get(req.socket)
    if (meta?.refused) {
      metrics?.refused.inc()
      const body = refuseBody(limits.connectionsPerAddressMax)
      const headers: Record<string, string | number> = {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      }
      if (!h2) headers['connection'] = 'close'
      res.writeHead(ERROR_CODES.PATINA_ERR_CONNECTION_LIMIT, headers)
      res.end(body)
      if (h2) (req as Http2ServerRequest).stream.session?.close()
      return
    }
    if (h2) {
      const r = req as Http2ServerRequest
      // An HTTP/2 body needs no length header, but fastify only reads a body when it sees a
      // content-type, a content-length or a transfer-encoding; bodies are JSON whatever the
      // content type says (as over HTTP/1.1), so a missing one is named.
      if (
        !r.stream.endAfterHeaders &&
        r.headers['content-type'] === undefined &&
        r.headers['content-length'] === undefined
      )
        r.headers['content-type'] = 'application/json'
      armBodyTimer(r, res as Http2ServerResponse)
    }
    route(req, res)
  }

  /** HTTP/2: a request whose body has not fully arrived `bodyTimeoutMs` after its headers gets 408. */
  const armBodyTimer = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    const stream = req.stream
    if (stream.readableEnded || stream.endAfterHeaders) return
    const timer = setTimeout(() => {
      if (req.complete || stream.destroyed) return
      metrics?.timeouts.inc({ phase: 'body' })
      if (!res.headersSent) {
        const body = JSON.stringify({
          error: `request body not received within ${limits.bodyTimeoutMs} ms (api.limits.body_timeout_ms)`,
          code: 'PATINA_ERR_TIMEOUT',
        } satisfies ErrorBody)
        res.writeHead(408, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
        // Answered in full, then the rest of the body is declined (RFC 9113 §8.1: RST_STREAM NO_ERROR).
        res.end(body, () => stream.close(http2.constants.NGHTTP2_NO_ERROR))
        return
      }
      stream.close(http2.constants.NGHTTP2_CANCEL)
    }, limits.bodyTimeoutMs)
    timer.unref()
    const clear = (): void => clearTimeout(timer)
    stream.once('end', clear)
    stream.once('close', clear)
  }

  const h1 = http.createServer(
    {
      headersTimeout: limits.headerTimeoutMs,
      requestTimeout: limits.headerTimeoutMs + limits.bodyTimeoutMs,
      connectionsCheckingInterval: Math.max(
        25,
        Math.min(1_000, Math.floor(Math.min(limits.headerTimeoutMs, limits.bodyTimeoutMs) / 4)),
      ),
      keepAliveTimeout: limits.idleTimeoutMs,
      noDelay: true,
    },
    handle,
  )
  h1.keepAliveTimeout = limits.idleTimeoutMs
  // `h1` never listens itself (sockets are handed to it), but Node only starts checking
  // `headersTimeout` and `requestTimeout` once a server emits 'listening'.
  h1.emit('listening')
  h1.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    // As Node's default: answer what the parser refused (431 headers too large, 408 request
    // not received in time, 400 otherwise) unless a response is already on its way.
    log?.debug({ code: err.code, msg: err.message }, 'HTTP/1.1 client error')
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
    if (socket.writable && !inFlight?.headersSent) {
      const status =
        err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
      if (status === 408) metrics?.timeouts.inc({ phase: 'request' })
      socket.write(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      )
    }
    socket.destroy()
  })

  const h2 = http2.createServer(
    {
      settings: { maxConcurrentStreams: limits.http2MaxStreams, maxHeaderListSize: 16 * 1024 },
      maxHeaderListPairs: 256,
    },
    handle,
  )
  h2.on('session', (session: Http2Session) => {
    const meta = pendingMeta
    if (meta !== undefined) sessionMeta.set(session, meta)
    sessions.add(session)
    let open = 0
    let idle: NodeJS.Timeout | undefined
    const armIdle = (ms: number, phase: 'header' | 'idle'): void => {
      clearTimeout(idle)
      idle = setTimeout(() => {
        if (open > 0 || session.destroyed) return
        if (phase === 'header') metrics?.timeouts.inc({ phase })
        session.close()
        // A peer that never acknowledges the GOAWAY does not keep the socket.
        setTimeout(() => session.destroy(), 1_000).unref()
      }, ms)
      idle.unref()
    }
    armIdle(limits.headerTimeoutMs, 'header')
    session.on('stream', (stream) => {
      open++
      clearTimeout(idle)
      stream.once('close', () => {
        open--
        if (open === 0) armIdle(limits.idleTimeoutMs, 'idle')
      })
    })
    session.on('error', (err) => log?.debug({ err }, 'HTTP/2 session error'))
    session.once('close', () => {
      clearTimeout(idle)
      sessions.delete(session)
    })
  })
  h2.on('sessionError', (err) => log?.debug({ err }, 'HTTP/2 session error'))

  const dispatch = (socket: Socket, meta: ConnMeta, head: Buffer, protocol: 'h2' | 'http1'): void => {
    socket.pause()
    socket.unshift(head)
    meta.protocol = protocol === 'h2' ? 'http2' : 'http1'
    metrics?.connections.inc({ protocol: meta.protocol })
    metrics?.connections.dec({ protocol: 'pending' })
    if (protocol === 'h2') {
      pendingMeta = meta
      try {
        h2.emit('connection', socket)
      } finally {
        pendingMeta = undefined
      }
    } else {
      h1.emit('connection', socket)
      socket.resume()
    }
  }

  const onConnection = (socket: Socket): void => {
    const key = addressKey(socket.remoteAddress)
    const count = (perAddress.get(key) ?? 0) + 1
    perAddress.set(key, count)
    const meta: ConnMeta = { key, refused: count > limits.connectionsPerAddressMax, protocol: 'pending' }
    sockets.set(socket, meta)
    metrics?.connections.inc({ protocol: 'pending' })
    socket.setNoDelay(true)
    socket.once('close', () => {
      sockets.delete(socket)
      metrics?.connections.dec({ protocol: meta.protocol })
      const left = (perAddress.get(key) ?? 1) - 1
      if (left <= 0) perAddress.delete(key)
      else perAddress.set(key, left)
    })
    // Until a protocol server takes the socket over, an error (a reset) just closes it.
    socket.on('error', () => {
      if (meta.protocol === 'pending') socket.destroy()
    })

    let head: Buffer = Buffer.alloc(0)
    const firstBytes = setTimeout(() => {
      metrics?.timeouts.inc({ phase: 'header' })
      socket.destroy()
    }, limits.headerTimeoutMs)
    firstBytes.unref()
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk])
      const protocol = sniffProtocol(head)
      if (protocol === null) return
      clearTimeout(firstBytes)
      socket.off('data', onData)
      socket.off('end', onEnd)
      dispatch(socket, meta, head, protocol)
    }
    const onEnd = (): void => {
      clearTimeout(firstBytes)
      socket.destroy()
    }
    socket.on('data', onData)
    socket.once('end', onEnd)
  }

  const server = net.createServer({ noDelay: true }, onConnection)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', (err) => log?.error({ err }, 'API listener error'))
  const address = server.address() as AddressInfo
  const shownHost = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.address
  const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${address.port}`

  let closing: Promise<void> | undefined
  return {
    url,
    address,
    connections() {
      const out = { pending: 0, http1: 0, http2: 0 }
      for (const m of sockets.values()) out[m.protocol]++
      return out
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const s of sessions) s.destroy()
        for (const s of sockets.keys()) s.destroy()
        h1.close()
        h2.close()
      })
      return closing
    },
  }
}

interface ServerMetrics {
  connections: Gauge<'protocol'>
  refused: Counter
  timeouts: Counter<'phase'>
}

function serverMetrics(registry: Registry): ServerMetrics {
  return {
    connections: gaugeIn(registry, {
      name: 'patina_api_connections',
      help: 'Open API connections by protocol (pending: first bytes not read yet; http1; http2)',
      labelNames: ['protocol'],
    }),
    refused: counterIn(registry, {
      name: 'patina_api_connections_refused_total',
      help: 'Requests answered 503 because their client address held too many connections',
    }),
    timeouts: counterIn(registry, {
      name: 'patina_api_timeouts_total',
      help: 'Connections or requests cut for being too slow, by phase (header: no complete request in time; request/body: body not received in time)',
      labelNames: ['phase'],
    }),
  }
}
