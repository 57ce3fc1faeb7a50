/**
 * `POST /v1/transactions`: a JSON array of statements run in one transaction (Corrosion §1.2).
 * Requests that arrive together run as one SQLite transaction, each keeping its own version and
 * answer (group commit, `../group-commit.ts`), unless `api.limits.transactions_per_group_max`
 * is 1.
 */
import { PatinaError, type ExecResponse } from '@patina/api'
import type { TransactionResult } from '@patina/core'
import type { FastifyInstance } from 'fastify'
import { Histogram, type Registry } from 'prom-client'
import type { RouteContext } from '../context.js'
import { deadlineFor, deadlineMessage } from '../deadlines.js'
import { toPatinaError } from '../errors.js'
import { createGroupCommit } from '../group-commit.js'
import { parseStatement } from '../statements.js'
import { parseTimeoutSec } from '../wait.js'

export async function transactionRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { engine } = ctx.deps
  const { opts } = ctx
  const sizes = groupSizes(ctx.deps.registry)
  const groups =
    opts.maxTransactionsPerGroup > 1
      ? createGroupCommit(engine, {
          maxGroup: opts.maxTransactionsPerGroup,
          budgetMs: opts.mainThreadMaxMs,
          onGroup: (n) => sizes.observe(n),
        })
      : null
  /** Runs the request's transaction: in the next group, or alone (group commit off). */
  const run = async (statements: Parameters<typeof engine.transaction>[0], timeoutMs: number) => {
    if (groups === null) return engine.transaction(statements, { timeoutMs })
    const a = await groups.submit({ statements, timeoutMs })
    if (a.status === 'failed') throw a.error
    return a.result
  }
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
      let res: TransactionResult
      try {
        // Resolves after the group's COMMIT and the engine's commit listeners. One of them,
        // subscribed in agent.ts, hands the group's changesets to `cluster.publishLocal`: when
        // this route answers, the write is queued for broadcast (docs/architecture.md, "walk of
        // one write").
        res = await run(stmts, deadline.ms)
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

/** `patina_api_transaction_group_size`: requests per group commit (one per registry). */
function groupSizes(registry: Registry): Histogram {
  const name = 'patina_api_transaction_group_size'
  return (
    (registry.getSingleMetric(name) as Histogram | undefined) ??
    new Histogram({
      name,
      help: 'Requests of POST /v1/transactions run as one SQLite transaction (group commit)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers: [registry],
    })
  )
}
