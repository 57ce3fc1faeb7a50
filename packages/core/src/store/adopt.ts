import { packPk } from '../crdt/pk.js'
import { exactValue } from '../crdt/values.js'
import type { SqlValue } from '@patina/api'
import type { Capture, LocalCommit } from './capture.js'
import type { StoreContext } from './context.js'
import { clockTable, q } from './schema-store.js'

/**
 * Rows a replicated table holds without a clock get one, as one local version: the rows of a
 * plain table Patina starts managing (adoption, `executePlan`), and — once, when a database
 * written before this was done is opened — rows adopted back then, which no peer ever received.
 * They are captured as inserts by this node, so they replicate like any other write. Runs
 * inside the caller's transaction.
 */
export function clockExistingRows(
  ctx: StoreContext,
  capture: Capture,
  tables: readonly string[],
  onlyUnclocked: boolean,
): LocalCommit {
  capture.begin()
  try {
    for (const name of tables) {
      const rt = ctx.tables.get(name)
      if (rt === undefined) continue
      const cols = [...rt.model.pk, ...rt.model.nonPk]
      const np = rt.model.pk.length
      // Read whole: no other statement may run on the connection while one iterates.
      const rows = ctx.db
        .prepare(`SELECT ${cols.map(q).join(', ')} FROM ${q(name)}`)
        .raw(true)
        .safeIntegers(true)
        .all() as unknown[][]
      for (const r of rows) {
        const vals: SqlValue[] = r.map(exactValue)
        const pkValues = vals.slice(0, np)
        if (onlyUnclocked && rt.getClock.get(packPk(pkValues)) !== undefined) continue
        capture.touchExisting(rt, pkValues, vals.slice(np))
      }
    }
    return capture.commit()
  } finally {
    capture.end()
  }
}

/**
 * Replicated tables whose live rows outnumber their live clocks: they hold rows nobody gave a
 * clock (adopted by a version that did not backfill them).
 */
export function tablesWithUnclockedRows(ctx: StoreContext): string[] {
  const out: string[] = []
  for (const rt of ctx.tables.values()) {
    const rows = ctx.db
      .prepare(`SELECT count(*) FROM ${q(rt.model.name)}`)
      .pluck()
      .get() as number
    const clocks = ctx.db
      .prepare(`SELECT count(*) FROM ${clockTable(rt.model.name)} WHERE cl % 2 = 1`)
      .pluck()
      .get() as number
    if (rows > clocks) out.push(rt.model.name)
  }
  return out
}
