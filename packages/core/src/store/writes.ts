import { PatinaError } from '@patina/api'
import type { Statement as DbStatement } from 'better-sqlite3'
import { leadingKeyword } from '../schema/split.js'
import type {
  GroupedTransaction,
  GroupOptions,
  GroupOutcome,
  Statement,
  TransactionResult,
} from '../types.js'
import type { Capture, LocalCommit } from './capture.js'
import type { StoreContext } from './context.js'
import { isInterrupt } from './deadline.js'
import { isLocalTable } from '../schema/local.js'
import { bindParams, driverError, statementError } from './driver.js'
import { explain, programFacts, refuseInternals } from './explain.js'

/**
 * Client write transactions: each statement is checked (its leading keyword, and what SQLite's
 * own `EXPLAIN` program does: it writes only replicated tables, calls no internal function and
 * touches no internal table, see `explain.ts`), prepared (and cached when worth reusing), then
 * run with change capture on, ending in the capture's commit.
 *
 * Group commit: transactions run as a group in one `BEGIN IMMEDIATE` … `COMMIT`, each under
 * its own savepoint and its own capture, so each keeps its own version and changesets exactly
 * as if it had run alone, in the group's order. One that fails is rolled back to its savepoint
 * (memory included: this node's version and books) and fails alone. When SQLite rolls back the
 * whole transaction on an error (it may, on an interrupt, a full disk or an I/O error), the
 * transactions that had run before it are run again in a new transaction: nothing of the lost
 * one was ever committed or answered. A lone transaction is a group of one.
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

/** A group's outcomes (in the order given) and the commits it made, in version order. */
export interface LocalGroup {
  outcomes: GroupOutcome[]
  commits: LocalCommit[]
}

/** What one SQLite transaction of a group left: settled outcomes, commits, and what runs again. */
interface Round {
  settled: [number, GroupOutcome][]
  commits: LocalCommit[]
  /** Transactions to run in a new SQLite transaction (this one was lost). */
  again: number[]
}

export class Writes {
  private readonly stmtCache = new Map<string, { stmt: DbStatement; writes: string[] }>()
  private readonly tx: Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'undo', DbStatement>

  constructor(
    private readonly ctx: StoreContext,
    private readonly capture: Capture,
  ) {
    const db = ctx.db
    this.tx = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT patina_client_tx'),
      release: db.prepare('RELEASE patina_client_tx'),
      undo: db.prepare('ROLLBACK TO patina_client_tx'),
    }
  }

  /** Forgets the prepared statements (the schema changed, so their checks may no longer hold). */
  clearCache(): void {
    this.stmtCache.clear()
  }

  /**
   * Runs one transaction (a group of one). With `timeoutMs`, the deadline covers preparing and
   * checking the statements, running them and the capture's bookkeeping; SQLite stops whatever
   * runs when it passes, the transaction rolls back entirely (memory included: this node's
   * version and books) and the error is `PATINA_ERR_TIMEOUT`. The commit itself runs after the
   * deadline is disarmed, so a transaction that did all its work in time commits.
   */
  run(statements: Statement[], opts: { timeoutMs?: number } = {}): LocalTransaction {
    const { outcomes, commits } = this.runGroup([{ statements, ...opts }])
    const o = outcomes[0] as GroupOutcome
    if (o.status === 'failed') throw o.error
    if (o.status === 'deferred')
      throw new PatinaError('PATINA_ERR_INTERNAL', 'a lone transaction was deferred')
    return { result: o.result, commit: commits[0] ?? { version: null, changesets: [], rows: [], ts: 0 } }
  }

  /**
   * Runs a group (see the module comment). Each transaction's deadline (`timeoutMs`) covers its
   * own work, as with `run`; with `budgetMs`, no transaction but the first starts once the group
   * has run that long, and the deadlines of the others are cut to what is left (one stopped by
   * the cut is `deferred`, not failed). The group's COMMIT runs after every deadline is disarmed.
   */
  runGroup(group: GroupedTransaction[], opts: GroupOptions = {}): LocalGroup {
    const outcomes: (GroupOutcome | undefined)[] = group.map(() => undefined)
    const commits: LocalCommit[] = []
    const started = performance.now()
    let todo = group.map((_, i) => i)
    let first = true
    while (todo.length > 0) {
      const round = this.round(group, todo, first, started, opts.budgetMs)
      first = false
      for (const [i, o] of round.settled) outcomes[i] = o
      commits.push(...round.commits)
      todo = round.again
    }
    return { outcomes: outcomes.map((o) => o ?? { status: 'deferred' }), commits }
  }

  /** One SQLite transaction of a group, over the transactions `todo` (indexes into `group`). */
  private round(
    group: GroupedTransaction[],
    todo: number[],
    first: boolean,
    started: number,
    budgetMs: number | undefined,
  ): Round {
    const ctx = this.ctx
    const settled: [number, GroupOutcome][] = []
    let done: { i: number; tx: LocalTransaction }[] = []
    const savedVersion = ctx.dbVersion
    const books = ctx.books.edit()
    const self = ctx.selfOrd
    books.open(self)
    let k = 0
    try {
      this.tx.begin.run()
      for (; k < todo.length; k++) {
        const i = todo[k] as number
        const req = group[i] as GroupedTransaction
        const lead = first && k === 0
        const left = budgetMs === undefined ? Infinity : budgetMs - (performance.now() - started)
        if (!lead && left <= 0) break
        // The group's first transaction runs under its own deadline; the others under what is
        // left of the budget when that is shorter.
        const cut = !lead && left < (req.timeoutMs ?? Infinity)
        const armMs = cut ? Math.max(1, Math.floor(left)) : req.timeoutMs
        const versionBefore = ctx.dbVersion
        const booksBefore = ctx.books.get(self).clone()
        this.tx.savepoint.run()
        try {
          const tx = this.runOne(req.statements, armMs, req.timeoutMs)
          this.tx.release.run()
          done.push({ i, tx })
        } catch (err) {
          ctx.dbVersion = versionBefore
          books.restore(self, booksBefore)
          const lost = !ctx.db.inTransaction
          if (!lost) {
            this.tx.undo.run()
            this.tx.release.run()
          }
          const stoppedByCut = cut && isDeadline(err)
          settled.push([
            i,
            stoppedByCut
              ? { status: 'deferred', stoppedByBudget: true }
              : { status: 'failed', error: errorOf(err) },
          ])
          if (lost) {
            // SQLite rolled the whole transaction back: what ran before this one runs again.
            books.rollback()
            ctx.dbVersion = savedVersion
            const again = [...done.map((d) => d.i), ...todo.slice(k + 1)]
            return { settled, commits: [], again }
          }
          if (stoppedByCut) {
            k++
            break
          }
        }
      }
      if (done.length === 0) this.tx.rollback.run()
      else this.tx.commit.run()
    } catch (err) {
      // BEGIN, a savepoint or COMMIT failed: a failure of the node (busy, full, I/O), not of one
      // transaction. Nothing of the group was written; every transaction not yet settled fails.
      if (ctx.db.inTransaction) this.tx.rollback.run()
      books.rollback()
      ctx.dbVersion = savedVersion
      const error = driverError(err)
      const settledNow = new Set(settled.map(([i]) => i))
      for (const i of todo) if (!settledNow.has(i)) settled.push([i, { status: 'failed', error }])
      done = []
      return { settled, commits: [], again: [] }
    }
    for (const d of done) settled.push([d.i, { status: 'committed', result: d.tx.result }])
    for (const i of todo.slice(k)) settled.push([i, { status: 'deferred' }])
    return { settled, commits: done.map((d) => d.tx.commit).filter((c) => c.version !== null), again: [] }
  }

  /**
   * One transaction under the open savepoint, its deadline armed for `armMs` (`ownMs`: the
   * transaction's own deadline, named in its timeout error).
   */
  private runOne(
    statements: Statement[],
    armMs: number | undefined,
    ownMs: number | undefined,
  ): LocalTransaction {
    if (statements.length === 0) {
      throw new PatinaError('PATINA_ERR_STATEMENT_INVALID', 'at least 1 statement is required')
    }
    const ctx = this.ctx
    const started = performance.now()
    const guard = ctx.writer.deadline
    let armed = false
    /** Disarms; true when the deadline passed meanwhile. */
    const disarm = (): boolean => {
      if (!armed) return false
      armed = false
      return guard.disarm()
    }
    const results: { rowsAffected: number; time: number }[] = []
    let c: LocalCommit
    try {
      if (armMs !== undefined) {
        guard.arm(armMs)
        armed = true
      }
      const prepared = statements.map((st, i) => this.prepareWrite(st, i))
      this.capture.begin()
      try {
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
        c = this.capture.commit()
      } finally {
        this.capture.end()
      }
      // The deadline covers the work, not the commit (an interrupted COMMIT would leave the
      // outcome to chance); a deadline that passed after the last step still fails it.
      if (disarm()) throw new DeadlinePassed()
    } catch (err) {
      disarm()
      if (armMs !== undefined && isDeadline(err)) {
        // Stopped by the group's budget, not its own deadline: deferred, not counted.
        if (armMs === ownMs) ctx.interrupts++
        const ms = ownMs ?? armMs
        throw new PatinaError(
          'PATINA_ERR_TIMEOUT',
          `transaction stopped after ${Math.round(performance.now() - started)} ms: its deadline of ${ms} ms passed; nothing was written (it was rolled back)`,
          { cause: err },
        )
      }
      throw err
    }
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

/** Whether `err` is a transaction stopped by its deadline (as `runOne` reports it, or raw). */
function isDeadline(err: unknown): boolean {
  if (err instanceof PatinaError && err.code === 'PATINA_ERR_TIMEOUT') return true
  return err instanceof DeadlinePassed || isInterrupt(causeOf(err))
}

/** The error a failed transaction of a group is answered with. */
function errorOf(err: unknown): PatinaError {
  return driverError(err)
}
