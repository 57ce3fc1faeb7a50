import type { SqlValue } from '@patina/api'
import type { Rng } from './random.js'
import type { GenSchema, GenTable } from './schema-gen.js'

/** A generated subscription query. */
export interface GenQuery {
  sql: string
  params?: SqlValue[]
  /** Which form the generator built (for the counts). */
  form: string
  /** The query reads the clock or chance: it must be refused. */
  nondeterministic: boolean
}

interface Src {
  alias: string
  t: GenTable
}

const col = (rng: Rng, s: Src, c: string): string =>
  rng.chance(0.1) ? `${s.alias}.[${c}]` : `${s.alias}.${c}`
const pks = (srcs: Src[]): string[] => srcs.flatMap((s) => s.t.pk.map((k) => `${s.alias}.${k}`))

function numExpr(rng: Rng, srcs: Src[]): string {
  const s = rng.pick(srcs)
  const i = col(rng, s, rng.pick(s.t.ints))
  switch (rng.int(0, 9)) {
    case 0:
      return `${i} + 1`
    case 1:
      return `coalesce(${i}, -1)`
    case 2:
      return `abs(${i} - 2)`
    case 3:
      return `max(${i}, 2)`
    case 4:
      return `CASE WHEN ${i} > 2 THEN 1 WHEN ${i} IS NULL THEN -1 ELSE 0 END`
    case 5:
      return s.t.json ? `json_extract(${s.alias}.${s.t.json}, '$.k')` : `${i} * 2`
    case 6:
      return `length(${col(rng, s, rng.pick(s.t.texts))})`
    case 7:
      return s.t.real ? `${s.alias}.${s.t.real}` : i
    default:
      return i
  }
}

function textExpr(rng: Rng, srcs: Src[]): string {
  const s = rng.pick(srcs)
  const t = col(rng, s, rng.pick(s.t.texts))
  switch (rng.int(0, 6)) {
    case 0:
      return `upper(${t})`
    case 1: {
      const o = rng.pick(srcs)
      return `${t} || '-' || coalesce(${col(rng, o, rng.pick(o.t.texts))}, '')`
    }
    case 2:
      return `substr(${t}, 1, 1)`
    case 3:
      return s.t.real ? `typeof(${s.alias}.${s.t.real})` : `ifnull(${t}, 'none')`
    case 4:
      return s.t.json ? `json_extract(${s.alias}.${s.t.json}, '$.s')` : t
    default:
      return t
  }
}

function predicate(rng: Rng, srcs: Src[], depth = 0, params?: SqlValue[]): string {
  const s = rng.pick(srcs)
  const i = col(rng, s, rng.pick(s.t.ints))
  const t = col(rng, s, rng.pick(s.t.texts))
  if (depth < 2 && rng.chance(0.3)) {
    const a = predicate(rng, srcs, depth + 1, params)
    const op = rng.pick(['AND', 'OR', 'NOT'])
    return op === 'NOT' ? `NOT (${a})` : `(${a} ${op} ${predicate(rng, srcs, depth + 1, params)})`
  }
  switch (rng.int(0, 10)) {
    case 0:
      return `${numExpr(rng, srcs)} ${rng.pick(['<', '<=', '>', '>=', '=', '<>'])} ${rng.int(0, 4)}`
    case 1:
      return `${t} = '${rng.pick(['a', 'p', 'z'])}'`
    case 2:
      return `${t} LIKE 'p%'`
    case 3:
      return `${i} IS ${rng.pick(['', 'NOT '])}NULL`
    case 4:
      return `${i} IN (1, 2, 4)`
    case 5:
      return `${i} BETWEEN 1 AND 3`
    case 6:
      return `${i} IS NOT DISTINCT FROM 2`
    case 7:
      if (params) {
        params.push(rng.int(0, 4))
        return `${i} > ?`
      }
      return `${i} > 1`
    case 8:
      return `CASE WHEN ${t} IS NULL THEN ${i} > 1 ELSE ${i} < 3 END`
    default:
      return `${i} ${rng.pick(['<', '>', '='])} ${rng.int(0, 4)}`
  }
}

/** FROM clause of 1–3 tables (root `a`, then `b`, `c`), joined on references when there are some. */
function fromClause(
  rng: Rng,
  schema: GenSchema,
): { from: string; srcs: Src[]; where: string[]; left: Src[] } {
  const root: Src = { alias: 'a', t: rng.pick(schema.tables) }
  const srcs = [root]
  const where: string[] = []
  const left: Src[] = []
  let from = `${root.t.name} a`
  const n = rng.pick([0, 0, 1, 1, 2])
  for (let k = 0; k < n; k++) {
    const alias = k === 0 ? 'b' : 'c'
    const other = rng.pick(schema.tables)
    const prev = rng.pick(srcs)
    let on: string
    const ref = [...prev.t.refs].find(([, to]) => to === other.name)
    const back = [...other.refs].find(([, to]) => to === prev.t.name)
    if (ref) on = `${alias}.id = ${prev.alias}.${ref[0]}`
    else if (back) on = `${alias}.${back[0]} = ${prev.alias}.id`
    else on = `${alias}.${rng.pick(other.ints)} = ${prev.alias}.${rng.pick(prev.t.ints)}`
    const kind = rng.pick(['JOIN', 'JOIN', 'LEFT JOIN', 'LEFT JOIN', ',', 'NATURAL JOIN'])
    if (kind === ',') {
      from += `, ${other.name} ${alias}`
      where.push(on)
    } else if (kind === 'NATURAL JOIN') from += ` NATURAL JOIN ${other.name} ${alias}`
    else from += ` ${kind} ${other.name} ${alias} ON ${on}`
    srcs.push({ alias, t: other })
    if (kind === 'LEFT JOIN') left.push({ alias, t: other })
  }
  return { from, srcs, where, left }
}

const AGGS = (rng: Rng, srcs: Src[]): string => {
  const s = rng.pick(srcs)
  const i = `${s.alias}.${rng.pick(s.t.ints)}`
  const t = `${s.alias}.${rng.pick(s.t.texts)}`
  const order = pks(srcs).join(', ')
  return rng.pick([
    'count(*)',
    'count()',
    `count(${i})`,
    `count(DISTINCT ${i})`,
    `sum(${i})`,
    `total(${i})`,
    `avg(${i})`,
    `min(${i})`,
    `max(${t})`,
    `group_concat(${t}, ',' ORDER BY ${t}, ${order})`,
    `string_agg(${t}, ';' ORDER BY ${order})`,
    `json_group_array(${i} ORDER BY ${order})`,
    `json_group_object(CAST(${order.split(', ')[0]} AS TEXT) || 'k', ${i} ORDER BY ${order})`,
  ])
}

/** One random query of one of the forms the issue lists. */
export function genQuery(rng: Rng, schema: GenSchema): GenQuery {
  const params: SqlValue[] = []
  const { from, srcs, where, left } = fromClause(rng, schema)
  if (rng.chance(0.5)) where.push(predicate(rng, srcs, 0, rng.chance(0.3) ? params : undefined))
  if (left.length > 0 && rng.chance(0.4)) {
    // Conditions on a left-joined table that NULL extension can make true (anti-joins).
    const l = rng.pick(left)
    where.push(
      rng.pick([
        `${l.alias}.${l.t.pk[0]} IS NULL`,
        `${l.alias}.${rng.pick(l.t.ints)} IS NULL`,
        `coalesce(${l.alias}.${rng.pick(l.t.ints)}, 0) < 2`,
        `NOT (${l.alias}.${rng.pick(l.t.ints)} > 1)`,
      ]),
    )
  }
  const whereSql = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''
  const exprs = (n: number): string[] =>
    Array.from(
      { length: n },
      (_, k) => `${rng.chance(0.5) ? numExpr(rng, srcs) : textExpr(rng, srcs)} AS e${k}`,
    )
  const out = (form: string, sql: string, nondeterministic = false): GenQuery => ({
    sql,
    ...(params.length > 0 ? { params } : {}),
    form,
    nondeterministic,
  })
  const form = rng.int(0, 19)
  if (form <= 5) {
    const cols = rng.chance(0.15) ? [rng.pick(['*', 'a.*'])] : exprs(rng.int(1, 4))
    const order = rng.chance(0.3)
      ? ` ORDER BY ${cols[0] === '*' || cols[0] === 'a.*' ? 'a.' + srcs[0]!.t.pk[0] : 'e0'}`
      : ''
    return out('select', `SELECT ${cols.join(', ')} FROM ${from}${whereSql}${order}`)
  }
  if (form <= 8) {
    const groups = rng.int(0, 2)
    const g = exprs(groups)
    const aggs = Array.from({ length: rng.int(1, 2) }, () => AGGS(rng, srcs))
    const groupBy = groups > 0 ? ` GROUP BY ${g.map((_, k) => `e${k}`).join(', ')}` : ''
    const having = groups > 0 && rng.chance(0.3) ? ' HAVING count(*) > 1' : ''
    return out('aggregate', `SELECT ${[...g, ...aggs].join(', ')} FROM ${from}${whereSql}${groupBy}${having}`)
  }
  if (form === 9)
    return out('distinct', `SELECT DISTINCT ${exprs(rng.int(1, 2)).join(', ')} FROM ${from}${whereSql}`)
  if (form === 10) {
    const limit = ` ORDER BY ${rng.chance(0.5) ? 'e0, ' : ''}${pks(srcs).join(', ')} LIMIT ${rng.int(1, 4)}${rng.chance(0.3) ? ' OFFSET 1' : ''}`
    return out('order-limit', `SELECT ${exprs(rng.int(1, 3)).join(', ')} FROM ${from}${whereSql}${limit}`)
  }
  if (form <= 12) {
    const other = rng.pick(schema.tables)
    const s = { alias: 's', t: other }
    const root = srcs[0]!
    const corr = [...other.refs].find(([, to]) => to === root.t.name)
    const link = corr ? `s.${corr[0]} = a.id` : `s.${rng.pick(other.ints)} = a.${rng.pick(root.t.ints)}`
    const sub = rng.pick([
      `a.${rng.pick(root.t.ints)} IN (SELECT s.${rng.pick(other.ints)} FROM ${other.name} s WHERE ${predicate(rng, [s])})`,
      `EXISTS (SELECT 1 FROM ${other.name} s WHERE ${link})`,
      `NOT EXISTS (SELECT 1 FROM ${other.name} s WHERE ${link} AND ${predicate(rng, [s])})`,
    ])
    const scalar = rng.chance(0.4) ? `, (SELECT count(*) FROM ${other.name} s WHERE ${link}) AS n` : ''
    const w = where.length > 0 ? `${whereSql} AND ${sub}` : ` WHERE ${sub}`
    return out('subquery', `SELECT ${exprs(rng.int(1, 2)).join(', ')}${scalar} FROM ${from}${w}`)
  }
  if (form === 13) {
    params.length = 0 // this form does not use the WHERE built above
    const other = rng.pick(schema.tables)
    const op = rng.pick(['UNION', 'UNION ALL', 'EXCEPT', 'INTERSECT'])
    const a = srcs[0]!
    return out(
      'compound',
      `SELECT a.${rng.pick(a.t.ints)}, a.${rng.pick(a.t.texts)} FROM ${a.t.name} a ${op} SELECT o.${rng.pick(other.ints)}, o.${rng.pick(other.texts)} FROM ${other.name} o`,
    )
  }
  if (form === 14) {
    const a = srcs[0]!
    const win = rng.pick([
      `row_number() OVER (ORDER BY ${pks(srcs).join(', ')})`,
      `sum(a.${rng.pick(a.t.ints)}) OVER (PARTITION BY a.${rng.pick(a.t.texts)} ORDER BY ${pks(srcs).join(', ')})`,
    ])
    return out('window', `SELECT ${exprs(1)[0]}, ${win} AS w FROM ${from}${whereSql}`)
  }
  if (form === 15) {
    params.length = 0
    const a = srcs[0]!
    return out(
      'cte',
      `WITH c AS (SELECT a.${a.t.pk[0]} AS key, a.${rng.pick(a.t.ints)} AS val FROM ${a.t.name} a) SELECT key, val * 2 FROM c WHERE val IS NOT NULL`,
    )
  }
  if (form === 16) {
    const a = srcs[0]!
    if (a.t.json) {
      params.length = 0
      return out(
        'json_each',
        `SELECT a.${a.t.pk[0]}, e.key, e.value FROM ${a.t.name} a, json_each(a.${a.t.json}) e`,
      )
    }
    return out(
      'case',
      `SELECT CASE a.${rng.pick(a.t.ints)} WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END AS e0 FROM ${from}${whereSql}`,
    )
  }
  if (form === 17) {
    const nd = rng.pick([
      'random()',
      "datetime('now')",
      'unixepoch()',
      "strftime('%s')",
      'current_timestamp',
      'randomblob(2)',
    ])
    return out('nondeterministic', `SELECT ${exprs(1)[0]}, ${nd} AS nd FROM ${from}${whereSql}`, true)
  }
  return out('select', `SELECT ${exprs(rng.int(1, 3)).join(', ')} FROM ${from}${whereSql}`)
}
