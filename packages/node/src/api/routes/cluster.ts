/** Patina additions: `GET /v1/cluster/members` and Prometheus `GET /metrics`. */
import type { FastifyInstance } from 'fastify'
import type { RouteContext } from '../context.js'

export async function clusterRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { deps } = ctx
  app.get('/v1/cluster/members', async (_req, reply) => reply.send({ members: deps.members() }))

  app.get('/metrics', async (_req, reply) => {
    const text = await deps.registry.metrics()
    return reply.type(deps.registry.contentType).send(text)
  })
}
