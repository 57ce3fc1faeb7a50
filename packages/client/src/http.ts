import { Agent, type Dispatcher } from 'undici'
import { PatinaClientError } from './errors.js'

/** Query-string values; `undefined` entries are left out. */
export type QueryParams = Record<string, string | number | boolean | undefined>

export interface HttpRequest {
  method: 'GET' | 'POST'
  /** Worker base URL, e.g. `http://127.0.0.1:8080`. */
  base: string
  path: string
  query?: QueryParams
  /** JSON body (POST). */
  body?: unknown
  /**
   * Deadline in milliseconds (0 = none). With `deadline: 'headers'` it stops counting once the
   * response headers arrive (streams that may live forever); with `'body'` it covers the whole body.
   */
  timeoutMs: number
  deadline: 'headers' | 'body'
  /** Longest silence between body chunks in milliseconds before the stream fails with a timeout; 0 = none. */
  idleTimeoutMs?: number
  signal?: AbortSignal | undefined
}

export interface HttpResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  url: string
  /** The body; errors are mapped to {@link PatinaClientError} (or the caller's abort reason). */
  body: AsyncIterable<Uint8Array>
  /** Reads the whole body as text (bounded by `maxBytes`). */
  text(maxBytes?: number): Promise<string>
  /** Reads and parses the whole body as JSON. */
  json(maxBytes?: number): Promise<unknown>
  /** Stops the request and frees the connection. Idempotent. */
  close(): void
}

export interface HttpTransport {
  send(req: HttpRequest): Promise<HttpResponse>
  close(): Promise<void>
}

export interface HttpTransportOptions {
  /** Bearer token sent as `Authorization: Bearer <token>`. */
  token?: string | undefined
  /** Extra headers on every request. */
  headers?: Record<string, string> | undefined
  /** TCP connect timeout in milliseconds. */
  connectTimeoutMs: number
  /** An undici dispatcher to use instead of a private `Agent` (not closed by `close()`). */
  dispatcher?: Dispatcher | undefined
}

/** Largest error body we read, in bytes. */
const MAX_ERROR_BODY_BYTES = 64 * 1024
/** Largest JSON (non-stream) body we read by default, in bytes. */
export const MAX_JSON_BODY_BYTES = 64 * 1024 * 1024

class TimeoutReason {
  constructor(readonly ms: number) {}
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'])

export function buildUrl(base: string, path: string, query?: QueryParams): string {
  const u = new URL(path, base.endsWith('/') ? base : `${base}/`)
  if (query) for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v))
  return u.toString()
}

/** Turns what undici (or an abort) threw into a typed error; the caller's own abort rethrows its reason. */
function mapError(
  err: unknown,
  url: string,
  ctl: AbortController,
  user: AbortSignal | undefined,
  phase: string,
): unknown {
  if (err instanceof PatinaClientError) return err
  if (user?.aborted && ctl.signal.reason === user.reason) return user.reason
  const reason: unknown = ctl.signal.aborted ? ctl.signal.reason : undefined
  if (reason instanceof TimeoutReason)
    return new PatinaClientError(
      'PATINA_ERR_TIMEOUT',
      `${phase} ${url} timed out after timeoutMs ${reason.ms}`,
      {
        url,
        cause: err,
      },
    )
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && TIMEOUT_CODES.has(code))
    return new PatinaClientError('PATINA_ERR_TIMEOUT', `${phase} ${url} timed out (${code})`, {
      url,
      cause: err,
    })
  const msg = err instanceof Error ? err.message : String(err)
  const detail = typeof code === 'string' && !msg.includes(code) ? `${code} ${msg}` : msg
  return new PatinaClientError('PATINA_ERR_HTTP', `${phase} ${url} failed: ${detail}`, { url, cause: err })
}

export function createHttpTransport(opts: HttpTransportOptions): HttpTransport {
  const own = opts.dispatcher === undefined
  const dispatcher: Dispatcher =
    opts.dispatcher ??
    new Agent({
      connect: { timeout: opts.connectTimeoutMs },
      keepAliveTimeout: 10_000,
      headersTimeout: 0,
      bodyTimeout: 0,
    })
  const baseHeaders: Record<string, string> = { ...opts.headers }
  if (opts.token !== undefined) baseHeaders['authorization'] = `Bearer ${opts.token}`

  return {
    async send(req) {
      const url = buildUrl(req.base, req.path, req.query)
      const ctl = new AbortController()
      const user = req.signal
      let timer: NodeJS.Timeout | undefined
      const onUserAbort = (): void => ctl.abort(user?.reason)
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer)
        timer = undefined
        user?.removeEventListener('abort', onUserAbort)
      }
      if (user?.aborted) throw user.reason
      user?.addEventListener('abort', onUserAbort, { once: true })
      if (req.timeoutMs > 0) {
        timer = setTimeout(() => ctl.abort(new TimeoutReason(req.timeoutMs)), req.timeoutMs)
        timer.unref?.()
      }
      const headers: Record<string, string> = {
        ...baseHeaders,
        accept: 'application/json, application/x-ndjson',
      }
      let body: string | undefined
      if (req.body !== undefined) {
        body = JSON.stringify(req.body)
        headers['content-type'] = 'application/json'
      }
      let res: Dispatcher.ResponseData
      try {
        const u = new URL(url)
        res = await dispatcher.request({
          origin: u.origin,
          path: u.pathname + u.search,
          method: req.method,
          headers,
          body: body ?? null,
          signal: ctl.signal,
          headersTimeout: 0,
          bodyTimeout: req.idleTimeoutMs ?? 0,
        })
      } catch (err) {
        cleanup()
        throw mapError(err, url, ctl, user, `${req.method}`)
      }
      if (req.deadline === 'headers' && timer !== undefined) {
        clearTimeout(timer)
        timer = undefined
      }
      let closed = false
      const close = (): void => {
        if (closed) return
        closed = true
        cleanup()
        res.body.destroy()
      }
      const raw = res.body
      async function* iterate(): AsyncGenerator<Uint8Array, void, undefined> {
        try {
          for await (const chunk of raw) yield chunk as Uint8Array
        } catch (err) {
          if (closed && !ctl.signal.aborted) return
          throw mapError(err, url, ctl, user, 'reading')
        } finally {
          close()
        }
      }
      const text = async (maxBytes = MAX_JSON_BODY_BYTES): Promise<string> => {
        const parts: Buffer[] = []
        let n = 0
        for await (const chunk of iterate()) {
          n += chunk.length
          if (n > maxBytes)
            throw new PatinaClientError(
              'PATINA_ERR_HTTP',
              `response body of ${url} exceeds maxBytes ${maxBytes}`,
              {
                url,
                httpStatus: res.statusCode,
              },
            )
          parts.push(Buffer.from(chunk))
        }
        return Buffer.concat(parts).toString('utf8')
      }
      return {
        status: res.statusCode,
        headers: res.headers,
        url,
        body: { [Symbol.asyncIterator]: () => iterate() },
        text,
        async json(maxBytes) {
          const t = await text(maxBytes)
          try {
            return JSON.parse(t) as unknown
          } catch (err) {
            throw new PatinaClientError(
              'PATINA_ERR_HTTP',
              `response body of ${url} is not JSON: ${t.slice(0, 200)}`,
              {
                url,
                httpStatus: res.statusCode,
                cause: err,
              },
            )
          }
        },
        close,
      }
    },
    async close() {
      // destroy, not close: a live stream would keep a graceful close waiting forever
      if (own) await dispatcher.destroy()
    },
  }
}

/**
 * Turns a non-2xx response into a {@link PatinaClientError} carrying the server's message, code
 * and status. Understands `{"error": "..."}`, `{"error", "code"}` and a transaction's
 * `{"results": [{"error": "..."}]}`.
 */
export async function errorFromResponse(res: HttpResponse, what: string): Promise<PatinaClientError> {
  let text = ''
  try {
    text = await res.text(MAX_ERROR_BODY_BYTES)
  } catch {
    // body unreadable or too long: keep the status
  } finally {
    res.close()
  }
  let serverMessage: string | undefined
  let serverCode: string | undefined
  try {
    const b = JSON.parse(text) as Record<string, unknown>
    if (typeof b['error'] === 'string') serverMessage = b['error']
    if (typeof b['code'] === 'string') serverCode = b['code']
    const results = b['results']
    if (serverMessage === undefined && Array.isArray(results)) {
      const failed = results.find(
        (r): r is { error: string; code?: unknown } => typeof (r as { error?: unknown })?.error === 'string',
      )
      if (failed) {
        serverMessage = failed.error
        if (serverCode === undefined && typeof failed.code === 'string') serverCode = failed.code
      }
    }
  } catch {
    if (text.trim() !== '') serverMessage = text.trim().slice(0, 1000)
  }
  const msg =
    serverMessage ??
    (res.status === 401 ? 'unauthorized (missing or invalid bearer token)' : 'no error message')
  const details: { httpStatus: number; url: string; serverMessage?: string; serverCode?: string } = {
    httpStatus: res.status,
    url: res.url,
  }
  if (serverMessage !== undefined) details.serverMessage = serverMessage
  if (serverCode !== undefined) details.serverCode = serverCode
  return new PatinaClientError('PATINA_ERR_HTTP', `${what} failed with HTTP ${res.status}: ${msg}`, details)
}
