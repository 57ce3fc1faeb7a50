/** Patina additions: `GET /v1/cluster/members` and Prometheus `GET /metrics`. */
import type { MembersResponse } from '@patina/api'
import type { FastifyInstance } from 'fastify'
import type { RouteContext } from '../context.js'

export async function clusterRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { deps } = ctx
  app.get('/v1/cluster/members', async (_req, reply) => {
    const h = deps.health()
    const body: MembersResponse = { members: deps.members() }
    if (h.isolated !== undefined)
      Object.assign(body, {
        isolated: h.isolated,
        last_contact_ms: h.lastContactMs ?? null,
        reachable_members: h.reachableMembers ?? 0,
      })
    return reply.send(body)
  })

  app.get('/metrics', async (_req, reply) => {
    const text = await deps.registry.metrics()
    return reply.type(deps.registry.contentType).send(text)
  })
}
