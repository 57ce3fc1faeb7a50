import type { FunctionInfo, QueryFacts } from '../store/query-probe.js'
import type { SelectShape } from './select.js'

/**
 * What SQLite's answers about a query mean for a subscription. Pure: the facts come from
 * `createQueryProbe`, the shape from `readSelect`.
 */

const AGG_OPS = new Set(['AggStep', 'AggStep1', 'AggFinal', 'AggValue', 'AggInverse', 'Count'])
const FUNC_OPS = new Set(['Function', 'PureFunc', 'Function0', 'PureFunc0'])

/** Whether the program aggregates rows (aggregate or window functions, `count(*)` fast path). */
export function aggregates(facts: QueryFacts): boolean {
  return facts.ops.some((o) => AGG_OPS.has(o.opcode))
}

/** Number of virtual tables (table-valued functions such as `json_each`) the program opens. */
export function virtualTables(facts: QueryFacts): number {
  return facts.ops.filter((o) => o.opcode === 'VOpen').length
}

/** Names of the scalar functions the program calls (lower-case). */
export function scalarCalls(facts: QueryFacts): Set<string> {
  const out = new Set<string>()
  for (const o of facts.ops) {
    if (!FUNC_OPS.has(o.opcode) || o.p4 === null) continue
    const m = /^([^(]+)\(/.exec(o.p4)
    if (m) out.add((m[1] as string).toLowerCase())
  }
  return out
}

/** SQLite's date and time functions: deterministic, except that the time value `now` is the clock. */
const TIME_FUNCTIONS = new Set(['date', 'time', 'datetime', 'julianday', 'unixepoch', 'strftime', 'timediff'])

/**
 * Why the query's result can change without any write (a function that is not
 * deterministic, or a date function reading the clock), or null.
 */
export function nonDeterminism(
  facts: QueryFacts,
  shape: SelectShape,
  functions: readonly FunctionInfo[],
  paramValues: readonly unknown[],
): string | null {
  const scalar = new Map<string, boolean>()
  for (const f of functions) {
    if (f.type !== 's') continue
    scalar.set(f.name, (scalar.get(f.name) ?? false) || f.deterministic)
  }
  for (const name of [...scalarCalls(facts)].sort()) {
    if (scalar.get(name) === false) {
      return name.startsWith('current_')
        ? `${name} depends on the current time`
        : `${name}() is not deterministic`
    }
  }
  const timeCalls = shape.calls.filter((c) => TIME_FUNCTIONS.has(c.name))
  for (const c of timeCalls) {
    // strftime(format) and the others without a time value read the clock.
    if (c.argc === 0 || (c.name === 'strftime' && c.argc === 1))
      return `${c.name}() without a time value depends on the current time`
  }
  if (timeCalls.length > 0) {
    const isNow = (v: unknown): boolean => typeof v === 'string' && v.trim().toLowerCase() === 'now'
    if (shape.strings.some(isNow) || paramValues.some(isNow)) {
      return `${(timeCalls[0] as { name: string }).name}('now') depends on the current time`
    }
  }
  return null
}

/**
 * Names the aggregate (not window) function calls of the top-level SELECT, or null. A call is
 * an aggregate when SQLite knows an aggregate of that name taking that many arguments
 * (`max(x)` is, `max(x, y)` is not) and no `OVER` follows it.
 */
export function topLevelAggregate(shape: SelectShape, functions: readonly FunctionInfo[]): string | null {
  const agg = new Map<string, number[]>()
  for (const f of functions) {
    if (f.type !== 'a' && f.type !== 'w') continue
    agg.set(f.name, [...(agg.get(f.name) ?? []), f.narg])
  }
  for (const c of shape.calls) {
    if (c.inSubquery || c.over || c.clause === null) continue
    if (c.clause !== 'columns' && c.clause !== 'having' && c.clause !== 'orderBy') continue
    const nargs = agg.get(c.name)
    if (nargs && nargs.some((n) => n < 0 || n === c.argc)) return `${c.name}()`
  }
  return null
}

/**
 * The loops of the query plan at top level, by the name SQLite shows for each (the alias, or
 * the table name), or the first plan step that is not a plain loop over a table (a subquery,
 * a co-routine, a temporary b-tree for DISTINCT or GROUP BY, a right join...).
 */
export function planLoops(facts: QueryFacts): { loops: string[]; other: string | null } {
  const loops: string[] = []
  const byId = new Map(facts.plan.map((r) => [r.id, r]))
  const topOf = (id: number): number => {
    let cur = byId.get(id)
    while (cur && cur.parent !== 0 && byId.has(cur.parent)) cur = byId.get(cur.parent)
    return cur?.id ?? id
  }
  const orNodes = new Set<number>()
  for (const r of facts.plan) {
    const loop = /^(?:SCAN|SEARCH) (\S+)/.exec(r.detail)
    if (r.parent === 0) {
      if (loop) loops.push((loop[1] as string).toLowerCase())
      else if (r.detail === 'MULTI-INDEX OR') orNodes.add(r.id)
      else if (/^(?:USE TEMP B-TREE FOR .*ORDER BY|BLOOM FILTER ON .*|CREATE BLOOM FILTER)$/.test(r.detail))
        continue
      else return { loops, other: r.detail }
    } else if (loop) {
      // One loop per MULTI-INDEX OR node (its branches search the same table); loops under
      // any other node were refused with that node.
      const top = topOf(r.id)
      if (orNodes.delete(top)) loops.push((loop[1] as string).toLowerCase())
    } else if (!/^(?:INDEX \d+|CREATE BLOOM FILTER|BLOOM FILTER ON .*)$/.test(r.detail)) {
      return { loops, other: r.detail }
    }
  }
  return { loops, other: null }
}
