import type { SqlValue } from '@patina/api'
import { afterAll, describe, expect, it } from 'vitest'
import { createStateEngine } from '../../src/index.js'
import { createQueryProbe } from '../../src/store/query-probe.js'
import { isRelevant, planSubscription, restrictedSql } from '../../src/subs/matcher.js'
import { SENTINEL } from '../../src/types.js'

const SCHEMA = `
CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER, j TEXT, ts TEXT);
CREATE TABLE u (id INTEGER PRIMARY KEY, tid INTEGER, w INTEGER, note TEXT);
CREATE INDEX u_tid ON u (tid);
CREATE TABLE k (a TEXT NOT NULL, b INTEGER NOT NULL, x TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
`
const engine = createStateEngine({ path: ':memory:', schema: SCHEMA })
const probe = createQueryProbe(engine.schema())
afterAll(() => {
  probe.close()
  engine.close()
})
const plan = (sql: string, params?: SqlValue[] | Record<string, SqlValue>) =>
  planSubscription(sql, params, engine.schema(), probe).plan

describe('subscription planner: incremental queries', () => {
  it.each([
    'SELECT id, v FROM t WHERE v > 1 ORDER BY v',
    'SELECT t.id, u.w FROM t JOIN u ON u.tid = t.id WHERE u.w > 3',
    'SELECT t.id, u.w FROM t LEFT JOIN u ON u.tid = t.id AND u.w > 3',
    'SELECT t.id, u.id, x.id FROM t LEFT JOIN u ON u.tid = t.id LEFT JOIN u x ON x.tid = u.id',
    'SELECT t.id, u.id FROM t, u WHERE u.w = t.v',
    'SELECT a.id, b.id AS parent FROM t a JOIN t b ON a.v = b.id',
    'SELECT t.id, u.w FROM t NATURAL JOIN u',
    'SELECT t.id FROM t JOIN u USING (id)',
    'SELECT [v], t.[j], "ts" FROM t',
    'SELECT id FROM t WHERE v IS NOT DISTINCT FROM 3',
    "SELECT id, CASE WHEN v > 2 THEN upper(j) ELSE coalesce(ts, '-') END FROM t WHERE v IN (1, 2, 3)",
    "SELECT id, max(v, 3), min(v, 1), json_extract(j, '$.a') FROM t",
    "SELECT id, date(ts), strftime('%Y', ts) FROM t",
    "SELECT a, b, x FROM k WHERE x LIKE 'p%'",
    'SELECT * FROM main.t',
  ])('%s', (sql) => {
    const p = plan(sql)
    expect(p.rerunReason).toBeNull()
    expect(p.maintenance).toBe('incremental')
    expect(p.identity).toEqual({ kind: 'pks' })
  })

  it('derives restricted queries that SQLite accepts, for every FROM table', () => {
    const p = plan('SELECT t.id, k.x FROM t JOIN k ON k.b = t.id WHERE t.v > 0')
    expect(restrictedSql(p, 0, 2)).toMatch(/"t"\."id" IN \(:__patina_k0,:__patina_k1\)/)
    expect(restrictedSql(p, 1, 2)).toMatch(
      /\("k"\."a","k"\."b"\) IN \(VALUES \(:__patina_k0,:__patina_k1\),\(:__patina_k2,:__patina_k3\)\)/,
    )
    // Hidden key columns come last: ORDER BY 2 keeps meaning the user's second column.
    expect(plan('SELECT id, v FROM t ORDER BY 2').innerSql).toBe(
      'SELECT id, v, "t"."id" AS __patina_pk_0_0 FROM t ORDER BY 2',
    )
  })
})

describe('subscription planner: queries maintained by re-running them', () => {
  it.each([
    // The aggregates the JavaScript parser missed (correctness review #7) and the usual ones.
    ['SELECT total(v) FROM t', 'columns', /aggregate function total\(\)/],
    ['SELECT count() FROM t', 'columns', /aggregate function count\(\)/],
    ['SELECT json_group_array(v) FROM t', 'columns', /json_group_array/],
    ['SELECT json_group_object(id, v) FROM t', 'columns', /json_group_object/],
    ["SELECT string_agg(v, ',') FROM t", 'columns', /string_agg/],
    ['SELECT count(*), max(v) FROM t', 'columns', /aggregate function count\(\)/],
    ['SELECT coalesce(sum(v), 0) FROM t', 'columns', /aggregate function sum\(\)/],
    ['SELECT v, count(*) AS n FROM t GROUP BY v HAVING n > 1', 'columns', /GROUP BY/],
    ['SELECT DISTINCT v FROM t', 'content', /DISTINCT/],
    ['SELECT id FROM t UNION SELECT tid FROM u', 'content', /compound SELECT \(UNION\)/],
    ['SELECT id FROM t EXCEPT SELECT tid FROM u', 'content', /EXCEPT/],
    ['WITH x AS (SELECT id FROM t) SELECT id FROM x', 'content', /WITH/],
    ['SELECT x.id FROM (SELECT id FROM t) x', 'content', /subquery in FROM/],
    ['SELECT t.id, j.value FROM t, json_each(t.j) j', 'content', /json_each/],
    ['SELECT id FROM t ORDER BY v, id LIMIT 2 OFFSET 1', 'pks', /LIMIT/],
    ['SELECT id FROM t WHERE v IN (SELECT w FROM u)', 'pks', /subquery/],
    ['SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.tid = t.id)', 'pks', /subquery/],
    ['SELECT id, (SELECT count(*) FROM u WHERE u.tid = t.id) FROM t', 'pks', /subquery/],
    ['SELECT id, row_number() OVER (ORDER BY v) FROM t', 'pks', /window function/],
    [
      'SELECT t.id FROM t LEFT JOIN u ON u.tid = t.id WHERE u.w > 1',
      'pks',
      /WHERE condition on left-joined table u/,
    ],
    ['SELECT t.id FROM t LEFT JOIN u ON u.tid = t.id WHERE note IS NULL', 'pks', /left-joined table u/],
    [
      'SELECT t.id FROM t LEFT JOIN u ON u.tid = t.id JOIN k ON k.b = t.id',
      'pks',
      /inner join \(of k\) after a left join/,
    ],
    ['SELECT t.id FROM t RIGHT JOIN u ON u.tid = t.id', 'pks', /RIGHT JOIN/],
  ])('%s', (sql, identity, reason) => {
    const p = plan(sql)
    expect(p.maintenance).toBe('rerun')
    expect(p.identity.kind).toBe(identity)
    expect(p.rerunReason).toMatch(reason)
  })

  it('identifies groups by their GROUP BY output columns (expression, alias or position)', () => {
    expect(plan('SELECT v, count(*) FROM t GROUP BY v').identity).toEqual({ kind: 'columns', columns: [0] })
    expect(plan('SELECT count(*), v % 2 AS odd FROM t GROUP BY odd').identity).toEqual({
      kind: 'columns',
      columns: [1],
    })
    expect(plan('SELECT count(*), v % 2 FROM t GROUP BY v % 2').identity).toEqual({
      kind: 'columns',
      columns: [1],
    })
    expect(plan('SELECT u.tid, t.v, count(*) FROM u JOIN t ON t.id = u.tid GROUP BY 2, 1').identity).toEqual({
      kind: 'columns',
      columns: [0, 1],
    })
    // A GROUP BY term that is not an output column: rows are told apart by content.
    expect(plan('SELECT count(*) FROM t GROUP BY v').identity).toEqual({ kind: 'content' })
  })
})

describe('subscription planner: refusals', () => {
  it.each([
    ['SELECT id, random() FROM t', /random\(\) is not deterministic/],
    ["SELECT id FROM t WHERE randomblob(2) > x'00'", /randomblob\(\) is not deterministic/],
    [
      "SELECT id FROM t WHERE ts > datetime('now', '-1 day')",
      /datetime\('now'\) depends on the current time/,
    ],
    ["SELECT id FROM t WHERE ts > DateTime('NOW')", /current time/],
    ['SELECT id, date() FROM t', /date\(\) without a time value/],
    ["SELECT id, strftime('%s') FROM t", /strftime\(\) without a time value/],
    ['SELECT id, current_timestamp FROM t', /current_timestamp depends on the current time/],
    ['SELECT id FROM t WHERE id > changes()', /changes\(\) is not deterministic/],
    ['SELECT name FROM sqlite_schema', /sqlite_schema is not a replicated table/],
    ["SELECT name FROM pragma_table_info('t')", /pragma_table_info reads node-local state/],
    ['SELECT 1', /reads no table/],
    ['INSERT INTO t (id) VALUES (1)', /INSERT statement cannot be subscribed to/],
    ['SELECT id FROM t; SELECT id FROM u', /more than one statement/],
  ])('%s', (sql, reason) => {
    expect(() => plan(sql)).toThrow(reason)
  })

  it('refuses a date function whose time value is a parameter bound to now', () => {
    expect(() => plan('SELECT id FROM t WHERE ts > datetime(?)', ['now'])).toThrow(/current time/)
    expect(plan('SELECT id FROM t WHERE ts > datetime(?)', ['2020-01-01']).maintenance).toBe('incremental')
  })

  it('answers with the error code of each kind of mistake', () => {
    const code = (sql: string) => {
      try {
        plan(sql)
      } catch (err) {
        return (err as { code: string }).code
      }
      return 'accepted'
    }
    expect(code('SELECT id FROM nope')).toBe('PATINA_ERR_UNKNOWN_TABLE')
    expect(code('SELECT id FROM __patina_meta')).toBe('PATINA_ERR_UNKNOWN_TABLE')
    expect(code('SELECT nope FROM t')).toBe('PATINA_ERR_STATEMENT_INVALID')
    expect(code('SELEKT id FROM t')).toBe('PATINA_ERR_SUBSCRIPTION_UNSUPPORTED')
    expect(code('  -- nothing\n ')).toBe('PATINA_ERR_STATEMENT_INVALID')
    expect(code('SELECT id, random() FROM t')).toBe('PATINA_ERR_SUBSCRIPTION_UNSUPPORTED')
  })
})

describe('subscription planner: which changes matter', () => {
  const change = (table: string, cids: string[]) => ({
    table,
    pk: new Uint8Array(),
    pkValues: [1],
    cids,
    deleted: false,
  })
  it('follows the columns the query names, every column under * or NATURAL, and row creation always', () => {
    const p = plan('SELECT t.id, u.w FROM t JOIN u ON u.tid = t.id WHERE t.v > 1')
    expect(isRelevant(p, change('t', ['v']))).toBe(true)
    expect(isRelevant(p, change('t', ['j']))).toBe(false)
    expect(isRelevant(p, change('t', [SENTINEL]))).toBe(true)
    expect(isRelevant(p, change('u', ['note']))).toBe(false)
    expect(isRelevant(p, change('u', ['tid']))).toBe(true)
    expect(isRelevant(p, change('k', [SENTINEL]))).toBe(false)
    expect(isRelevant(plan('SELECT * FROM t'), change('t', ['ts']))).toBe(true)
    expect(isRelevant(plan('SELECT t.id FROM t NATURAL JOIN u'), change('u', ['note']))).toBe(true)
    // Tables read only inside a subquery matter too (SQLite says which b-trees it opens).
    const sub = plan('SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.tid = t.id AND u.w > 2)')
    expect(isRelevant(sub, change('u', ['w']))).toBe(true)
    expect(isRelevant(sub, change('u', ['note']))).toBe(false)
    expect(isRelevant(plan('SELECT count(*) FROM t'), change('t', ['v']))).toBe(false)
  })
})
