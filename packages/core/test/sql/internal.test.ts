import { describe, expect, it } from 'vitest'
import { createStateEngine } from '../../src/index.js'
import { assertNoInternalNames, internalNames } from '../../src/sql/internal.js'
import { TEST_SCHEMA } from '../helpers.js'

describe('internalNames', () => {
  const table: [string, string[]][] = [
    ['SELECT 1', []],
    ["SELECT __patina_capture(1, 'x')", ['__patina_capture']],
    ['SELECT __PATINA_CAPTURE(1)', ['__PATINA_CAPTURE']],
    ['SELECT "__patina_capture"(1)', ['__patina_capture']],
    ['SELECT * FROM [__patina_meta]', ['__patina_meta']],
    ['SELECT * FROM `__patina_sites`', ['__patina_sites']],
    ["SELECT * FROM '__patina_heads'", ['__patina_heads']],
    ['SELECT * FROM main.__patina_vers', ['__patina_vers']],
    ['SELECT __patina_deadline(x, 0), __patina_deadline(y, 0) FROM t', ['__patina_deadline']],
    ['SELECT * FROM items /* __patina_meta */', []],
    ['SELECT * FROM items -- __patina_meta', []],
    ['SELECT :__patina_k0', []],
    ["SELECT 'patina', __pat FROM t", []],
  ]
  it.each(table)('%s → %o', (sql, want) => {
    expect(internalNames(sql)).toEqual(want)
  })

  it('the refusal names the objects and the rule', () => {
    expect(() =>
      assertNoInternalNames('SELECT __patina_capture(1) FROM __patina_meta', 'statement 0: '),
    ).toThrow(
      /^statement 0: "__patina_capture", "__patina_meta" are internal to Patina: client statements are not allowed to call __patina_\* functions/,
    )
  })
})

describe('client transactions cannot forge changes', () => {
  it('__patina_capture called from a transaction is refused and nothing is captured', () => {
    const e = createStateEngine({ path: ':memory:', schema: TEST_SCHEMA })
    for (const sql of [
      "SELECT __patina_capture(1, 'items', 1, 'name', 'forged')",
      "INSERT INTO items (id, name) SELECT 7, 'a' WHERE __patina_capture(1) IS NULL",
      'SELECT "__patina_capture"(1)',
    ]) {
      expect(() => e.transaction([{ sql }]), sql).toThrow(/internal to Patina/)
    }
    expect(e.stats().version).toBe(0)
    expect([...e.query('SELECT count(*) FROM items').rows]).toEqual([[0]])
  })
})
