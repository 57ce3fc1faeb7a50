import type { PatinaError } from '@patina/api'
import { afterEach, describe, expect, it } from 'vitest'
import { bindPositional, sqlParameters } from '../../src/schema/params.js'
import { engines } from '../helpers.js'

describe('sqlParameters numbers parameters as SQLite does', () => {
  it.each([
    ['SELECT ?, ?', ['?@1', '?@2']],
    ['SELECT ?2, ?1, ?2', ['2@2', '1@1']],
    ['SELECT ?1, ?', ['1@1', '?@2']],
    ['SELECT :a, ?, :a, @b, $c', ['a@1', '?@2', 'b@3', 'c@4']],
    ['SELECT \'?\', "?1", [:x], `@y` -- ?\n, ? /* :z */', ['?@1']],
    ["SELECT json_extract(m, '$.a'), a$b FROM t WHERE x = ?3", ['3@3']],
    ['SELECT 1', []],
  ])('%s', (sql, want) => {
    expect(sqlParameters(sql).map((s) => `${s.key}@${s.index}`)).toEqual(want)
  })
})

describe('bindPositional', () => {
  it('spreads an array over anonymous, numbered and named parameters', () => {
    expect(bindPositional('SELECT ?, ?', [1, 2])).toEqual([1, 2])
    expect(bindPositional('SELECT ?2, ?1', ['a', 'b'])).toEqual([{ '1': 'a', '2': 'b' }])
    expect(bindPositional('SELECT ?1, ?', ['a', 'b'])).toEqual(['b', { '1': 'a' }])
    expect(bindPositional('SELECT :x, :y', [1, 2])).toEqual([{ x: 1, y: 2 }])
  })

  it('refuses a count that does not match, naming what the statement expects', () => {
    expect(() => bindPositional('UPDATE t SET v = ?2 WHERE id = ?1', [1])).toThrow(
      'the statement has 2 parameters (?1, ?2) but 1 value was given',
    )
    expect(() => bindPositional('SELECT ?', [])).toThrow(
      'the statement has 1 parameter but 0 values were given',
    )
    expect(() => bindPositional('SELECT 1', [5])).toThrow(
      'the statement has 0 parameters but 1 value was given',
    )
    try {
      bindPositional('SELECT ?', [1, 2])
    } catch (e) {
      expect((e as PatinaError).code).toBe('PATINA_ERR_PARAM_INVALID')
    }
  })
})

describe('numbered parameters in the engine', () => {
  let env: ReturnType<typeof engines> | undefined
  afterEach(() => env?.cleanup())

  it("binds ?NNN by position in transactions and queries (Corrosion's own test statement)", () => {
    env = engines()
    const e = env.open('CREATE TABLE tests (id INTEGER NOT NULL PRIMARY KEY, text TEXT);')
    e.transaction([{ sql: 'INSERT INTO tests (id, text) VALUES (?1, ?2)', params: [1n, 'a'] }])
    e.transaction([{ sql: 'update tests set text = ?2 where id = ?1', params: [1n, 'b'] }])
    expect([...e.query('SELECT ?2, text, ?1 FROM tests WHERE id = ?1', [1n, 'x']).rows]).toEqual([
      ['x', 'b', 1],
    ])
    expect(() => e.transaction([{ sql: 'update tests set text = ?2 where id = ?1', params: [1n] }])).toThrow(
      /the statement has 2 parameters \(\?1, \?2\) but 1 value was given/,
    )
  })
})
