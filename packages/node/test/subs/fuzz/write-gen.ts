import type { Statement } from '@patina/core'
import type { Rng } from './random.js'
import { valueColumns, type GenSchema, type GenTable } from './schema-gen.js'

/** Random writes of every kind over a generated schema. */

const KEYS = 6
const TEXTS = ['a', 'b', 'p', 'pq', 'z']
const KS = ['k1', 'k2']

function keyOf(rng: Rng, t: GenTable): { where: string; values: string[] } {
  if (t.pk[0] === 'id') {
    const id = rng.int(1, KEYS)
    return { where: `id = ${id}`, values: [String(id)] }
  }
  const k = `'${rng.pick(KS)}'`
  const n = rng.int(1, 3)
  return { where: `k = ${k} AND n = ${n}`, values: [k, String(n)] }
}

function valueFor(rng: Rng, t: GenTable, col: string): string {
  if (t.refs.has(col)) return rng.chance(0.15) ? 'NULL' : String(rng.int(1, KEYS))
  if (col === 'q') return String(rng.int(0, 4))
  if (t.ints.includes(col)) return rng.chance(0.15) ? 'NULL' : String(rng.int(0, 5))
  if (col === t.real) return rng.chance(0.2) ? 'NULL' : String(rng.int(0, 6) / 2)
  if (col === t.json) {
    if (rng.chance(0.03)) return `'oops'`
    return rng.chance(0.1) ? 'NULL' : `'{"k":${rng.int(0, 3)},"s":"${rng.pick(TEXTS)}"}'`
  }
  return rng.chance(0.15) ? 'NULL' : `'${rng.pick(TEXTS)}'`
}

function oneWrite(rng: Rng, schema: GenSchema): string {
  const t = rng.pick(schema.tables)
  const cols = valueColumns(t)
  const key = keyOf(rng, t)
  const some = rng.sample(cols, rng.int(1, Math.max(1, cols.length)))
  const insertCols = [...t.pk, ...some]
  const insertVals = [...key.values, ...some.map((c) => valueFor(rng, t, c))]
  const sets = some.map((c) => `${c} = ${valueFor(rng, t, c)}`).join(', ')
  const ins = `INTO ${t.name} (${insertCols.join(', ')}) VALUES (${insertVals.join(', ')})`
  const intCol = t.ints[0] as string
  switch (rng.int(0, 10)) {
    case 0:
      return `INSERT ${ins}` // may fail on an existing key: the transaction rolls back
    case 1:
      return `INSERT OR REPLACE ${ins}`
    case 2:
      return `INSERT OR IGNORE ${ins}`
    case 3:
      return `INSERT ${ins} ON CONFLICT (${t.pk.join(', ')}) DO UPDATE SET ${sets}`
    case 4:
    case 5:
      return `UPDATE ${t.name} SET ${sets} WHERE ${key.where}`
    case 6:
      return `UPDATE ${t.name} SET ${sets} WHERE ${intCol} ${rng.pick(['<', '>', '='])} ${rng.int(0, 5)}`
    case 7: {
      // The primary key itself changes (a delete and an insert for replication).
      const to = keyOf(rng, t)
      const set = t.pk[0] === 'id' ? `id = ${to.values[0]}` : `n = ${to.values[1]}`
      return `UPDATE OR REPLACE ${t.name} SET ${set} WHERE ${key.where}`
    }
    case 8:
      return `DELETE FROM ${t.name} WHERE ${key.where}`
    case 9:
      return `DELETE FROM ${t.name} WHERE ${intCol} ${rng.pick(['<', '>', '=', 'IS'])} ${rng.chance(0.2) ? 'NULL' : rng.int(0, 5)}`
    default:
      return `UPDATE ${t.name} SET ${intCol} = coalesce(${intCol}, 0) + 1 WHERE ${intCol} IS NULL OR ${intCol} < 3`
  }
}

/** One transaction of one to three writes. */
export function genTransaction(rng: Rng, schema: GenSchema): Statement[] {
  const n = rng.chance(0.7) ? 1 : rng.int(2, 3)
  return Array.from({ length: n }, () => ({ sql: oneWrite(rng, schema) }))
}
