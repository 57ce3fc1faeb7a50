/** The edge's HTTP routes: lookups, views, health and metrics. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'
import { PatinaClientError } from '@patina/client'
import type { Edge } from './edge.js'

/**
 * Turns the `key` query parameter(s) of a lookup into one value per key column. Pure.
 *
 * - `key=a&key=b`: one parameter per key column, in `key` order;
 * - `key=a,b`: comma-separated, only when the query has more than one key column (a single-column
 *   key is taken whole, commas included);
 * - or one parameter per column by name (`?host=a&port=b`) when `key` is absent.
 */
export function parseLookupKey(
  raw: Record<string, string | string[] | undefined>,
  keyColumns: readonly string[],
): string[] {
  const k = raw['key']
  const n = keyColumns.length
  const bad = (got: unknown): PatinaClientError =>
    new PatinaClientError(
      'PATINA_ERR_PARAM_INVALID',
      `lookup key ${JSON.stringify(got)} does not match the key columns (${keyColumns.join(', ')}): give ${n} value(s) as key=v1${n > 1 ? '&key=v2, key=v1,v2' : ''} or by column name`,
    )
  if (k === undefined) {
    const byName = keyColumns.map((c) => raw[c])
    if (byName.every((v): v is string => typeof v === 'string')) return byName
    throw bad(null)
  }
  if (Array.isArray(k)) {
    if (k.length === n) return k
    if (k.length === 1 && n > 1) return parseLookupKey({ key: k[0] }, keyColumns)
    throw bad(k)
  }
  if (n === 1) return [k]
  const parts = k.split(',')
  if (parts.length !== n) throw bad(k)
  return parts
}

type Reply = (status: number, body: unknown) => void

function sendError(reply: Reply, err: unknown): void {
  if (err instanceof PatinaClientError) {
    const status = err.httpStatus ?? (err.code === 'PATINA_ERR_PARAM_INVALID' ? 400 : err.status)
    reply(status, { error: err.message, code: err.code })
    return
  }
  reply(500, { error: String(err), code: 'PATINA_ERR_INTERNAL' })
}

/** Query-string parameters, a repeated one as an array. */
function queryOf(u: URL): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [k, v] of u.searchParams) {
    const prev = out[k]
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v]
  }
  return out
}

/**
 * The edge's HTTP API as a `node:http` request listener: `GET /v1/lookup/:query`,
 * `GET /v1/views/:query`, `GET /v1/health`, `GET /v1/templates`, `GET /metrics`. Five read-only routes need no
 * framework; keeping one out keeps the edge's install and memory small.
 */
export function createRequestHandler(
  edge: Pick<Edge, 'config' | 'lookup' | 'view' | 'health' | 'templates' | 'subscription'>,
  registry: Registry,
): (req: IncomingMessage, res: ServerResponse) => void {
  const route = async (req: IncomingMessage, reply: Reply, text: (t: string, type: string) => void) => {
    const u = new URL(req.url ?? '/', 'http://edge')
    const parts = u.pathname.split('/')
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return reply(405, { error: `method ${req.method ?? ''} not allowed; the edge answers GET only` })
    if (u.pathname === '/v1/health') {
      const h = edge.health()
      return reply(h.status === 'unsynced' ? 503 : 200, h)
    }
    if (u.pathname === '/v1/templates') {
      const t = edge.templates()
      return reply(t.ok ? 200 : 503, t)
    }
    if (u.pathname === '/metrics') return text(await registry.metrics(), registry.contentType)
    if (parts.length === 4 && parts[1] === 'v1' && (parts[2] === 'lookup' || parts[2] === 'views')) {
      let name: string
      try {
        name = decodeURIComponent(parts[3] ?? '')
      } catch {
        return reply(400, { error: `bad query name in ${u.pathname}`, code: 'PATINA_ERR_PARAM_INVALID' })
      }
      try {
        if (parts[2] === 'views') return reply(200, edge.view(name))
        const cfg = edge.config.queries.find((q) => q.name === name)
        if (!cfg) edge.subscription(name) // throws the unknown-query error
        const r = edge.lookup(name, parseLookupKey(queryOf(u), cfg?.key ?? []))
        if (r.rows.length === 0)
          return reply(404, {
            error: `no row in query ${r.query} with key ${JSON.stringify(r.key)}`,
            query: r.query,
            key: r.key,
            stale: r.stale,
          })
        return reply(200, r)
      } catch (err) {
        return sendError(reply, err)
      }
    }
    return reply(404, { error: `no route GET ${u.pathname}`, code: 'PATINA_ERR_PARAM_INVALID' })
  }
  return (req, res) => {
    const text = (t: string, type: string): void => {
      res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(t) })
      res.end(req.method === 'HEAD' ? undefined : t)
    }
    const reply: Reply = (status, body) => {
      const t = JSON.stringify(body)
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(t),
      })
      res.end(req.method === 'HEAD' ? undefined : t)
    }
    route(req, reply, text).catch((err: unknown) => {
      if (!res.headersSent) sendError(reply, err)
      else res.destroy()
    })
  }
}
