import { PatinaError } from '@patina/api'
import type { Database as Db } from 'better-sqlite3'

/**
 * What a client statement does, read from SQLite's own answer: the `EXPLAIN` program it compiles
 * to. Client SQL may not call an internal function, nor read or write an internal table, nor
 * read the temp schema (where the capture triggers, and so the capture function's name, live);
 * and a transaction may write only replicated tables. The checks look at the statement's main
 * program only: the sub-programs listed after it are the capture triggers, which are ours.
 */

export interface ExplainOp {
  addr: number
  opcode: string
  p1: number
  p2: number
  p3: number
  p4: string | number | null
}

/** Names of internal tables and functions; client SQL may not use them. */
export const INTERNAL_NAME = /^__patina/i

const FUNCTION_OPS = new Set(['Function', 'PureFunc', 'AggStep', 'AggFinal', 'AggValue', 'AggInverse'])
const OPEN_OPS = new Set(['OpenRead', 'OpenWrite', 'ReopenIdx'])

export interface ProgramFacts {
  /** Tables opened for writing (or cleared/dropped), by name; temp or attached targets as a label. */
  writes: string[]
  /** Internal tables read or written, and other databases (temp, attached) read. */
  internalTables: string[]
  /** Internal functions called. */
  internalFunctions: string[]
}

/** Pure: the facts of a statement's main program. `rootPages` maps main-database root pages to table names. */
export function programFacts(
  ops: readonly ExplainOp[],
  rootPages: ReadonlyMap<number, string>,
): ProgramFacts {
  const writes = new Set<string>()
  const internalTables = new Set<string>()
  const internalFunctions = new Set<string>()
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as ExplainOp
    // The main program ends where the first sub-program (a trigger) starts again at address 0.
    if (i > 0 && op.addr === 0) break
    if (FUNCTION_OPS.has(op.opcode)) {
      const name = String(op.p4 ?? '').replace(/\(.*$/, '')
      if (INTERNAL_NAME.test(name)) internalFunctions.add(name)
      continue
    }
    let root: number | undefined
    let dbIdx: number | undefined
    if (OPEN_OPS.has(op.opcode)) [root, dbIdx] = [op.p2, op.p3]
    else if (op.opcode === 'Clear' || op.opcode === 'Destroy') [root, dbIdx] = [op.p1, op.p2]
    if (root === undefined) continue
    const isWrite = op.opcode !== 'OpenRead' && op.opcode !== 'ReopenIdx'
    if (dbIdx !== 0) {
      const label = dbIdx === 1 ? '(temp database)' : '(attached database)'
      if (isWrite) writes.add('(temp or attached database)')
      else internalTables.add(label)
      continue
    }
    const name = rootPages.get(root) ?? `(root page ${root})`
    if (isWrite) writes.add(name)
    if (INTERNAL_NAME.test(name)) internalTables.add(name)
  }
  return {
    writes: [...writes],
    internalTables: [...internalTables],
    internalFunctions: [...internalFunctions],
  }
}

/** The `EXPLAIN` program of `sql` on `conn`, with `args` bound (a program can depend on them). */
export function explain(conn: Db, sql: string, args: unknown[]): ExplainOp[] {
  return conn.prepare<unknown[], ExplainOp>(`EXPLAIN ${sql}`).all(...args)
}

/** Refuses a statement that calls an internal function or touches an internal table. */
export function refuseInternals(facts: ProgramFacts, where: string): void {
  if (facts.internalFunctions.length > 0) {
    throw new PatinaError(
      'PATINA_ERR_STATEMENT_REFUSED',
      `${where}calls internal function ${facts.internalFunctions.join(', ')}: functions starting with "__patina" are Patina's own and cannot be called from client SQL`,
    )
  }
  if (facts.internalTables.length > 0) {
    throw new PatinaError(
      'PATINA_ERR_STATEMENT_REFUSED',
      `${where}uses ${facts.internalTables.join(', ')}: Patina's internal tables (names starting with "__patina") and the temp schema cannot be used from client SQL`,
    )
  }
}
