import { PatinaError } from '@patina/api'
import type { Statement as DbStatement } from 'better-sqlite3'
import { leadingKeyword } from '../schema/split.js'
import type { Statement, TransactionResult } from '../types.js'
import type { Capture, LocalCommit } from './capture.js'
import type { StoreContext } from './context.js'
import { isInterrupt } from './deadline.js'
import { isLocalTable } from '../schema/local.js'
import { bindParams, statementError } from './driver.js'
import { explain, programFacts, refuseInternals } from './explain.js'

/**
 * Client write transactions: each statement is checked (its leading keyword, and what SQLite's
 * own `EXPLAIN` program does: it writes only replicated tables, calls no internal function and
 * touches no internal table, see `explain.ts`), prepared (and cached when worth reusing), then
 * all run in one `BEGIN IMMEDIATE` transaction with change capture on, ending in the capture's
 * commit.
 */

/** Prepared write statements kept for reuse, and the longest SQL text that is cached. */
const MAX_CACHED_STATEMENTS = 256
const MAX_CACHED_SQL_CHARS = 4096

const WRITE_KEYWORDS = new Set(['INSERT', 'REPLACE', 'UPDATE', 'DELETE', 'SELECT', 'WITH', 'VALUES'])

/** A committed local transaction: the answer, and what the commit listeners are told. */
export interface LocalTransaction {
  result: TransactionResult
  commit: LocalCommit
}

export class Writes {
  private readonly stmtCache = new Map<string, { stmt: DbStatement; writes: string[] }>()

  constructor(
    private readonly ctx: StoreContext,
    private readonly capture: Capture,
  ) {}

  /** Forgets the prepared statements (the schema changed, so their checks may no longer hold). */
  clearCache(): void {
    this.stmtCache.clear()
  }

  /**
   * Runs the statements in one transaction. With `timeoutMs`, the deadline covers preparing
   * and checking the statements, running them and the capture's bookkeeping; SQLite stops
   * whatever runs when it passes, the transaction rolls back entirely (memory included: this
   * node's version and books) and the error is `PATINA_ERR_TIMEOUT`. The commit itself runs
   * after the deadline is disarmed, so a transaction that did all its work in time commits.
   */
  run(statements: Statement[], opts: { timeoutMs?: number } = {}): LocalTransaction {
    if (statements.length === 0) {
      throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', 'at least 1 statement is required')
    }
    const ctx = this.ctx
    const started = performance.now()
    const ms = opts.timeoutMs
    const guard = ctx.writer.deadline
    let armed = false
    /** Disarms; true when the deadline passed meanwhile. */
    const disarm = (): boolean => {
      if (!armed) return false
      armed = false
      return guard.disarm()
    }
    const results: { rowsAffected: number; time: number }[] = []
    let committed: LocalCommit | undefined
    const savedVersion = ctx.dbVersion
    const books = ctx.books.edit()
    books.open(ctx.selfOrd)
    try {
      if (ms !== undefined) {
        guard.arm(ms)
        armed = true
      }
      const prepared = statements.map((st, i) => this.prepareWrite(st, i))
      this.capture.begin()
      try {
        ctx.db
          .transaction(() => {
            prepared.forEach((stmt, i) => {
              const t0 = performance.now()
              let rowsAffected: number
              try {
                const args = bindParams((statements[i] as Statement).sql, (statements[i] as Statement).params)
                if (stmt.reader) rowsAffected = stmt.all(...args).length
                else rowsAffected = stmt.run(...args).changes
              } catch (err) {
                throw statementError(err, statements.length > 1 ? `statement ${i}: ` : '')
              }
              results.push({ rowsAffected, time: (performance.now() - t0) / 1000 })
            })
            committed = this.capture.commit()
            // The deadline covers the work, not the commit (an interrupted COMMIT would leave the
            // outcome to chance); a deadline that passed after the last step still fails it.
            if (disarm()) throw new DeadlinePassed()
          })
          .immediate()
      } finally {
        this.capture.end()
      }
    } catch (err) {
      disarm()
      // Nothing of the transaction stays: the database rolled back, memory follows.
      ctx.dbVersion = savedVersion
      books.rollback()
      if (ms !== undefined && (err instanceof DeadlinePassed || isInterrupt(causeOf(err)))) {
        ctx.interrupts++
        throw new PatinaError(
          'PATINA_ERR_TIMEOUT',
          `transaction stopped after ${Math.round(performance.now() - started)} ms: its deadline of ${ms} ms passed; nothing was written (it was rolled back)`,
          { cause: err },
        )
      }
      throw err
    }
    const c = committed as LocalCommit
    return {
      result: {
        results,
        version: c.version,
        actorId: ctx.actorId,
        changesets: c.changesets,
        time: (performance.now() - started) / 1000,
      },
      commit: c,
    }
  }

  private prepareWrite(st: Statement, i: number): DbStatement {
    if (typeof st.sql !== 'string' || st.sql.trim() === '') {
      throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', `statement ${i}: SQL must be a non-empty string`)
    }
    const cached = this.stmtCache.get(st.sql)
    if (cached !== undefined) return cached.stmt
    const kw = leadingKeyword(st.sql)
    if (!WRITE_KEYWORDS.has(kw)) {
      throw new PatinaError(
        'PATINA_ERR_STATEMENT_REFUSED',
        `statement ${i}: ${kw || 'this'} statements are not allowed in transactions (allowed: ${[...WRITE_KEYWORDS].join(', ')}); schema changes go through schema files`,
      )
    }
    let stmt: DbStatement
    try {
      stmt = this.ctx.db.prepare(st.sql)
    } catch (err) {
      throw statementError(err, `statement ${i}: `)
    }
    stmt.safeIntegers(true)
    let facts: ReturnType<typeof programFacts>
    try {
      const ops = explain(this.ctx.db, st.sql, bindParams(st.sql, st.params))
      facts = programFacts(ops, this.ctx.rootPages)
      // A table created after the schema was loaded (a local table made by its own tool) is not
      // in the map yet: read the map again once.
      if (facts.writes.some((t) => t.startsWith('(root page '))) {
        this.ctx.loadRootPages()
        facts = programFacts(ops, this.ctx.rootPages)
      }
    } catch (err) {
      throw statementError(err, `statement ${i}: `)
    }
    const writes = facts.writes
    for (const t of writes) {
      if (t === 'sqlite_sequence') continue
      if (!this.ctx.tables.has(t) && !isLocalTable(t, this.ctx.localTables)) {
        throw new PatinaError(
          'PATINA_ERR_STATEMENT_REFUSED',
          `statement ${i}: writes to "${t}" are not allowed: only replicated tables (${[...this.ctx.tables.keys()].join(', ') || 'none'}) and tables declared in db.local_tables can be written`,
        )
      }
    }
    refuseInternals(facts, `statement ${i}: `)
    // Only statements worth reusing are cached: a one-off bulk INSERT with thousands of literal
    // rows compiles to a program of megabytes, and 512 of those held native memory for good.
    if (st.sql.length <= MAX_CACHED_SQL_CHARS) {
      if (this.stmtCache.size >= MAX_CACHED_STATEMENTS)
        this.stmtCache.delete(this.stmtCache.keys().next().value as string)
      this.stmtCache.set(st.sql, { stmt, writes })
    }
    return stmt
  }
}

/** Thrown inside the transaction when the deadline passed after its last step. */
class DeadlinePassed extends Error {}

/** The driver error under a statement error (`statementError` keeps it as the cause). */
function causeOf(err: unknown): unknown {
  return err instanceof PatinaError && err.cause !== undefined ? err.cause : err
}
