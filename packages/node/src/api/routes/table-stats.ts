/** `POST /v1/table_stats`: row counts of tables (Corrosion §1.6). */
import { PatinaError, type TableStatsResponse } from '@patina/api'
import type { FastifyInstance } from 'fastify'
import type { RouteContext } from '../context.js'
import { parseWaitParams, waitForVersion } from '../wait.js'

export async function tableStatsRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { engine } = ctx.deps
  app.post('/v1/table_stats', { onRequest: ctx.limit('table_stats') }, async (req, reply) => {
    const body = req.body as { tables?: unknown } | undefined
    if (
      body === null ||
      typeof body !== 'object' ||
      !Array.isArray(body.tables) ||
      !body.tables.every((t): t is string => typeof t === 'string')
    ) {
      throw new PatinaError('PATINA_ERR_BODY_INVALID', 'request body must be {"tables": ["table", ...]}')
    }
    const wait = parseWaitParams(req.query as Record<string, unknown>, ctx.opts)
    if (wait) await waitForVersion(engine, wait, ctx.abortOn(reply))
    try {
      const s = engine.tableStats(body.tables)
      return reply.send({
        total_row_count: s.totalRowCount,
        invalid_tables: s.invalidTables,
      } satisfies TableStatsResponse)
    } catch (err) {
      req.log.error({ err }, 'table_stats failed')
      return reply.code(500).send({ total_row_count: 0, invalid_tables: [] } satisfies TableStatsResponse)
    }
  })
}
