/**
 * `GET /v1/health` (Corrosion §1.7, plus Patina's isolation fields and `?max_contact_ms=`).
 * The decision is the pure `evaluateHealth`.
 */
import type { FastifyInstance } from 'fastify'
import type { RouteContext } from '../context.js'
import { toPatinaError } from '../errors.js'
import { actorHeads, evaluateHealth, parseHealthThresholds, type HealthFacts } from '../health.js'

/** What the node reports for `/v1/health` (see `ApiDeps.health`). */
export interface HealthSnapshot {
  queueSize: number
  /** p99 commit lag in seconds; null when there are no samples (health then fails, as Corrosion's). */
  p99LagSec: number | null
  /** Isolation (the cluster's `isolation()`); without it a node reports itself not isolated. */
  isolated?: boolean
  lastContactMs?: number | null
  reachableMembers?: number
}

export async function healthRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { deps } = ctx
  app.get('/v1/health', { onRequest: ctx.limit('health') }, async (req, reply) => {
    const t = parseHealthThresholds(req.query as Record<string, unknown>)
    let facts: HealthFacts
    try {
      const h = deps.health()
      const members = deps.members()
      const stats = deps.engine.stats()
      facts = {
        gaps: stats.gaps,
        refused: stats.refused,
        members: members.filter((m) => m.state === 'alive').length,
        p99LagSec: h.p99LagSec,
        queueSize: h.queueSize,
        isolated: h.isolated ?? false,
        lastContactMs: h.lastContactMs ?? null,
        reachableMembers: h.reachableMembers ?? members.filter((m) => m.state === 'alive' && !m.self).length,
        heads: actorHeads(deps.engine.syncState()),
      }
    } catch (err) {
      return reply.code(500).send({ error: toPatinaError(err).message })
    }
    const { status, body } = evaluateHealth(facts, t)
    return reply.code(status).send(body)
  })
}
