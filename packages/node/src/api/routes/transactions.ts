/** `POST /v1/transactions`: a JSON array of statements run in one transaction (Corrosion §1.2). */
import { PatinaError, type ExecResponse } from '@patina/api'
import type { FastifyInstance } from 'fastify'
import type { RouteContext } from '../context.js'
import { deadlineFor, deadlineMessage } from '../deadlines.js'
import { toPatinaError } from '../errors.js'
import { parseStatement } from '../statements.js'
import { parseTimeoutSec } from '../wait.js'

export async function transactionRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { engine } = ctx.deps
  const { opts } = ctx
  app.post(
    '/v1/transactions',
    { onRequest: ctx.limit('transactions'), preHandler: ctx.requireWrite },
    async (req, reply) => {
      const timeoutSec = parseTimeoutSec(req.query as Record<string, unknown>)
      const body = req.body
      if (!Array.isArray(body)) {
        throw new PatinaError('PATINA_ERR_BODY_INVALID', 'request body must be a JSON array of statements')
      }
      if (body.length === 0)
        throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', 'at least 1 statement is required')
      if (body.length > opts.maxStatementsPerTransaction) {
        throw new PatinaError(
          'PATINA_ERR_TOO_MANY_STATEMENTS',
          `request has ${body.length} statements; api.maxStatementsPerTransaction allows ${opts.maxStatementsPerTransaction}`,
        )
      }
      const stmts = body.map((s, i) => parseStatement(s, i))
      // On the main thread, which also answers membership probes: never longer than
      // api.limits.main_thread_max_ms; SQLite stops the statement there and it rolls back.
      const deadline = deadlineFor('transaction', timeoutSec, ctx.deadlines)
      let res
      try {
        // Commits, then calls the engine's commit listeners before it returns. One of them,
        // subscribed in agent.ts, hands the changesets to `cluster.publishLocal`: when this
        // route answers, the write is queued for broadcast (docs/architecture.md, "walk of one write").
        res = engine.transaction(stmts, { timeoutMs: deadline.ms })
      } catch (err) {
        // Corrosion answers 500 for every SQL failure of a transaction, prepare errors included.
        const pe = toPatinaError(err)
        if (pe.code === 'PATINA_ERR_TIMEOUT') {
          ctx.metrics.interrupts.inc({ kind: 'transaction' })
          throw new PatinaError('PATINA_ERR_TIMEOUT', deadlineMessage('transaction', deadline), {
            cause: err,
          })
        }
        throw pe.code === 'PATINA_ERR_STATEMENT_INVALID'
          ? new PatinaError('PATINA_ERR_SQL', pe.message, { cause: err })
          : pe
      }
      const out: ExecResponse = {
        results: res.results.map((r) => ({ rows_affected: r.rowsAffected, time: r.time })),
        time: res.time,
        version: res.version,
        actor_id: res.actorId,
      }
      return reply.code(200).send(out)
    },
  )
}
