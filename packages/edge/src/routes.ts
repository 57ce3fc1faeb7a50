/** The edge's HTTP routes (fastify): lookups, views, health and metrics. */
import type { FastifyInstance, FastifyReply } from 'fastify'
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

function sendError(reply: FastifyReply, err: unknown): unknown {
  if (err instanceof PatinaClientError) {
    const status = err.httpStatus ?? (err.code === 'PATINA_ERR_PARAM_INVALID' ? 400 : err.status)
    return reply.code(status).send({ error: err.message, code: err.code })
  }
  return reply.code(500).send({ error: String(err), code: 'PATINA_ERR_INTERNAL' })
}

export function registerRoutes(app: FastifyInstance, edge: Edge, registry: Registry): void {
  app.get<{ Params: { query: string }; Querystring: Record<string, string | string[]> }>(
    '/v1/lookup/:query',
    async (req, reply) => {
      try {
        const cfg = edge.config.queries.find((q) => q.name === req.params.query)
        if (!cfg) edge.subscription(req.params.query) // throws the unknown-query error
        const key = parseLookupKey(req.query, cfg?.key ?? [])
        const r = edge.lookup(req.params.query, key)
        if (r.rows.length === 0)
          return reply.code(404).send({
            error: `no row in query ${r.query} with key ${JSON.stringify(r.key)}`,
            query: r.query,
            key: r.key,
            stale: r.stale,
          })
        return reply.send(r)
      } catch (err) {
        return sendError(reply, err)
      }
    },
  )
  app.get<{ Params: { query: string } }>('/v1/views/:query', async (req, reply) => {
    try {
      return reply.send(edge.view(req.params.query))
    } catch (err) {
      return sendError(reply, err)
    }
  })
  app.get('/v1/health', async (_req, reply) => {
    const h = edge.health()
    return reply.code(h.status === 'unsynced' ? 503 : 200).send(h)
  })
  app.get('/metrics', async (_req, reply) => {
    return reply.header('content-type', registry.contentType).send(await registry.metrics())
  })
}
