import { describe, expect, it } from 'vitest'
import { readFrom } from '../../src/subs/from.js'
import { readSelect, spanText } from '../../src/subs/select.js'

const clauses = (sql: string) => {
  const s = readSelect(sql)
  return Object.fromEntries(Object.entries(s.clauses).map(([k, span]) => [k, spanText(sql, s.tokens, span)]))
}

describe('select shape (lexer level)', () => {
  it('finds the top-level clauses, not those of subqueries, windows or IS DISTINCT FROM', () => {
    expect(
      clauses(
        "SELECT a IS DISTINCT FROM b, (SELECT 1 FROM u WHERE x ORDER BY y LIMIT 1), count(*) OVER (ORDER BY c) FROM t WHERE 'where' = d GROUP BY e HAVING f ORDER BY g LIMIT 3 OFFSET 1",
      ),
    ).toEqual({
      columns:
        'a IS DISTINCT FROM b, (SELECT 1 FROM u WHERE x ORDER BY y LIMIT 1), count(*) OVER (ORDER BY c)',
      from: 't',
      where: "'where' = d",
      groupBy: 'e',
      having: 'f',
      orderBy: 'g',
      limit: '3 OFFSET 1',
    })
  })

  it('counts subqueries and reads calls with their arguments', () => {
    const s = readSelect(
      "SELECT count(*), string_agg(v, ',' ORDER BY v, w), max(a, b), f(), row_number() OVER w FROM t WHERE x IN (SELECT y FROM u)",
    )
    expect(s.subqueries).toBe(1)
    expect(s.calls.map((c) => [c.name, c.argc, c.over, c.clause])).toEqual([
      ['count', 0, false, 'columns'],
      ['string_agg', 2, false, 'columns'],
      ['max', 2, false, 'columns'],
      ['f', 0, false, 'columns'],
      ['row_number', 0, true, 'columns'],
    ])
    expect(readSelect('SELECT a FROM t UNION ALL SELECT b FROM u').compound).toBe('UNION ALL')
    expect(readSelect('SELECT DISTINCT a FROM t').distinct).toBe(true)
    expect(readSelect('SELECT a * b, count(*) FROM t').wildcard).toBe(false)
    expect(readSelect('SELECT a, t.* FROM t').wildcard).toBe(true)
  })

  it('reads FROM entries, joins and constraints, and names what it does not read', () => {
    const sql =
      'SELECT 1 FROM main.t AS a NATURAL LEFT OUTER JOIN u b USING (id) JOIN [k] ON k.x = a.id, w INDEXED BY w_i'
    const s = readSelect(sql)
    const r = readFrom(s.tokens, s.clauses.from!)
    expect(r.ok && r.entries.map((e) => [e.schema, e.table, e.alias, e.join, e.natural, e.using])).toEqual([
      ['main', 't', 'a', 'root', false, null],
      [null, 'u', 'b', 'left', true, ['id']],
      [null, 'k', null, 'inner', false, null],
      [null, 'w', null, 'inner', false, null],
    ])
    const bad = (from: string) => {
      const x = readSelect(`SELECT 1 FROM ${from}`)
      const res = readFrom(x.tokens, x.clauses.from!)
      return res.ok ? 'ok' : res.reason
    }
    expect(bad('(SELECT 1) s')).toBe('a subquery in FROM')
    expect(bad('(t JOIN u)')).toBe('a parenthesised join in FROM')
    expect(bad('json_each(?) j')).toBe('the table-valued function json_each()')
  })
})
