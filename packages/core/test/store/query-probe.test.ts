import { afterAll, describe, expect, it } from 'vitest'
import { createStateEngine } from '../../src/index.js'
import { createQueryProbe } from '../../src/store/query-probe.js'
import { aggregates, planLoops, scalarCalls, virtualTables } from '../../src/subs/facts.js'

const engine = createStateEngine({
  path: ':memory:',
  schema:
    'CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER, j TEXT); CREATE TABLE u (id INTEGER PRIMARY KEY, tid INTEGER); CREATE INDEX u_tid ON u (tid);',
})
const probe = createQueryProbe(engine.schema())
afterAll(() => {
  probe.close()
  engine.close()
})

describe('query probe (what SQLite says of a query)', () => {
  it('sees aggregates the way SQLite compiles them, including the count(*) fast path', () => {
    expect(aggregates(probe.explain('SELECT total(v) FROM t'))).toBe(true)
    expect(aggregates(probe.explain('SELECT count(*) FROM t'))).toBe(true)
    expect(aggregates(probe.explain('SELECT id, row_number() OVER (ORDER BY v) FROM t'))).toBe(true)
    expect(aggregates(probe.explain('SELECT id, max(v, 2) FROM t'))).toBe(false)
  })

  it('lists the tables a query reads, through an index or inside a subquery', () => {
    expect(
      probe.explain('SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.tid = t.id)').tablesRead.sort(),
    ).toEqual(['t', 'u'])
    expect(probe.explain('SELECT tid FROM u WHERE tid > 3').tablesRead).toEqual(['u'])
    expect(probe.explain('SELECT name FROM sqlite_schema').tablesRead).toEqual(['sqlite_schema'])
  })

  it('names the functions a query calls and knows which are deterministic', () => {
    expect([...scalarCalls(probe.explain('SELECT upper(j), random() FROM t'))].sort()).toEqual([
      'random',
      'upper',
    ])
    const fns = probe.functions()
    const det = (name: string) =>
      fns.filter((f) => f.name === name && f.type === 's').every((f) => f.deterministic)
    expect(det('random')).toBe(false)
    expect(det('upper')).toBe(true)
    expect(
      fns
        .filter((f) => f.name === 'max')
        .map((f) => f.type)
        .sort(),
    ).toEqual(['s', 'w'])
    expect(virtualTables(probe.explain('SELECT t.id, e.value FROM t, json_each(t.j) e'))).toBe(1)
  })

  it('reports the loops of the plan by the name the query gives each table', () => {
    const joined = planLoops(probe.explain('SELECT a.id FROM t a JOIN u b ON b.tid = a.id'))
    expect({ loops: joined.loops.sort(), other: joined.other }).toEqual({ loops: ['a', 'b'], other: null })
    expect(planLoops(probe.explain('SELECT DISTINCT v FROM t')).other).toBe('USE TEMP B-TREE FOR DISTINCT')
  })

  it('refuses what SQLite refuses, with its message', () => {
    expect(() => probe.explain('SELECT nope FROM t')).toThrow(/no such column: nope/)
    expect(() => probe.explain('SELECT id FROM nope')).toThrow(
      expect.objectContaining({ code: 'PATINA_ERR_UNKNOWN_TABLE' }),
    )
    expect(() => probe.explain('SELECT id FROM t WHERE id = :x', { ':y': 1 })).toThrow(
      expect.objectContaining({ code: 'PATINA_ERR_PARAM_INVALID' }),
    )
    expect(probe.explain('DELETE FROM t').readonly).toBe(false)
  })
})
