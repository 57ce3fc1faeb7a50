/** `GET /v1/health` (Corrosion §1.7). */
import type { FastifyInstance } from 'fastify'
import type { RouteContext } from '../context.js'
import { toPatinaError } from '../errors.js'
import { evaluateHealth, parseHealthThresholds } from '../health.js'

export async function healthRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { deps } = ctx
  app.get('/v1/health', { onRequest: ctx.limit('health') }, async (req, reply) => {
    const t = parseHealthThresholds(req.query as Record<string, unknown>)
    let facts
    try {
      const h = deps.health()
      const stats = deps.engine.stats()
      facts = {
        gaps: stats.gaps,
        refused: stats.refused,
        members: deps.members().filter((m) => m.state === 'alive').length,
        p99LagSec: h.p99LagSec,
        queueSize: h.queueSize,
      }
    } catch (err) {
      return reply.code(500).send({ error: toPatinaError(err).message })
    }
    const { status, body } = evaluateHealth(facts, t)
    return reply.code(status).send(body)
  })
}
