/**
 * HTTP helpers for benchmarks, on undici (lower client overhead than `fetch`, explicit pools).
 */
import { Agent, request, type Dispatcher } from 'undici'

/** A dispatcher allowing `connections` sockets per origin (default unlimited). */
export function agent(connections?: number): Agent {
  return new Agent({
    ...(connections !== undefined ? { connections } : {}),
    keepAliveTimeout: 60_000,
    pipelining: 1,
  })
}

/** POST JSON, return the parsed body; throws on a non-2xx status. */
export async function postJson<T>(
  dispatcher: Dispatcher,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  const res = await request(url, {
    dispatcher,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
  const text = await res.body.text()
  if (res.statusCode < 200 || res.statusCode >= 300)
    throw new Error(`POST ${url} → ${res.statusCode}: ${text.slice(0, 300)}`)
  return (text === '' ? null : JSON.parse(text)) as T
}

export async function getText(
  dispatcher: Dispatcher,
  url: string,
): Promise<{ status: number; text: string }> {
  const res = await request(url, { dispatcher, method: 'GET' })
  return { status: res.statusCode, text: await res.body.text() }
}

export interface LineStream {
  /** Resolves with the response headers once the stream is open. */
  opened: Promise<Record<string, string | string[] | undefined>>
  /** Resolves when the stream ends (or is aborted). */
  done: Promise<void>
  abort(): void
}

/**
 * Open a streaming request and call `onLine` for every non-empty NDJSON line (raw text:
 * parsing is the caller's choice, so cheap prefix checks stay cheap).
 */
export function streamLines(
  dispatcher: Dispatcher,
  url: string,
  opts: { method?: 'GET' | 'POST'; body?: unknown; headers?: Record<string, string> },
  onLine: (line: string) => void,
): LineStream {
  const ac = new AbortController()
  let openedResolve!: (h: Record<string, string | string[] | undefined>) => void
  let openedReject!: (e: unknown) => void
  const opened = new Promise<Record<string, string | string[] | undefined>>((res, rej) => {
    openedResolve = res
    openedReject = rej
  })
  opened.catch(() => undefined)
  const done = (async () => {
    try {
      const res = await request(url, {
        dispatcher,
        method: opts.method ?? 'POST',
        headers: { 'content-type': 'application/json', ...opts.headers },
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal: ac.signal,
      })
      if (res.statusCode !== 200) {
        const text = await res.body.text()
        throw new Error(`${url} → ${res.statusCode}: ${text.slice(0, 300)}`)
      }
      openedResolve(res.headers)
      let buf = ''
      res.body.setEncoding('utf8')
      for await (const chunk of res.body as AsyncIterable<string>) {
        buf += chunk
        let start = 0
        let nl: number
        while ((nl = buf.indexOf('\n', start)) >= 0) {
          if (nl > start) onLine(buf.slice(start, nl))
          start = nl + 1
        }
        buf = buf.slice(start)
      }
    } catch (err) {
      openedReject(err)
      if (!ac.signal.aborted) throw err
    }
  })()
  done.catch(() => undefined)
  return { opened, done, abort: () => ac.abort() }
}

/** POST JSON and return the whole response body as text (e.g. an NDJSON query answer). */
export async function postText(dispatcher: Dispatcher, url: string, body: unknown): Promise<string> {
  const res = await request(url, {
    dispatcher,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return res.body.text()
}
