/**
 * The campaign checker itself: it must flag lost writes, lost updates, reused versions and
 * phantoms, and accept legitimate supersession by the merge rules.
 */
import { describe, expect, it } from 'vitest'
import { checkHistory, effects, type Outcome, type Row, type WriteRecord } from './lib/history.js'
import type { Step } from './lib/workload.js'

let tick = 0
let id = 0
function w(
  worker: string,
  steps: Step[],
  outcome: Partial<Outcome> & { status: Outcome['status'] },
  version?: number,
): WriteRecord {
  const issuedAt = ++tick
  const o: Outcome =
    outcome.status === 'ok'
      ? { status: 'ok', actor: `actor-${worker}`, version: version ?? ++id, rowsAffected: steps.map(() => 1) }
      : outcome.status === 'failed'
        ? { status: 'failed', error: 'refused' }
        : { status: 'unknown', error: 'timeout' }
  return { op: { id: ++id, worker: 0, steps }, workerName: worker, issuedAt, answeredAt: ++tick, outcome: o }
}
const ok = { status: 'ok' } as const
const row = (k: number, a: string | null, b: string | null = null, n = 0): Row => ({ k, a, b, n })
const kinds = (ws: WriteRecord[], final: Row[]): string[] => checkHistory(ws, final).map((v) => v.kind)

describe('history checker', () => {
  it('accepts a clean history', () => {
    const h = [
      w('x', [{ kind: 'upsert', k: 1, col: 'a', token: 't1' }], ok),
      w('x', [{ kind: 'upsert', k: 1, col: 'a', token: 't2' }], ok),
    ]
    expect(kinds(h, [row(1, 't2')])).toEqual([])
  })
  it('flags a lost write: an acknowledged value that nothing could supersede is gone', () => {
    const h = [w('x', [{ kind: 'upsert', k: 1, col: 'a', token: 't1' }], ok)]
    expect(kinds(h, [])).toContain('lost-write')
    expect(kinds(h, [row(1, null)])).toContain('lost-write')
  })
  it('flags a lost update: the final value is one its own worker overwrote later', () => {
    const h = [
      w('x', [{ kind: 'upsert', k: 1, col: 'a', token: 't1' }], ok),
      w('x', [{ kind: 'upsert', k: 1, col: 'a', token: 't2' }], ok),
    ]
    expect(kinds(h, [row(1, 't1')])).toContain('lost-update')
  })
  it('a delete on the same worker also supersedes; a concurrent write on another worker may win', () => {
    const h = [
      w('x', [{ kind: 'upsert', k: 1, col: 'a', token: 't1' }], ok),
      w('x', [{ kind: 'delete', k: 1 }], ok),
    ]
    expect(kinds(h, [row(1, 't1')])).toContain('lost-update')
    expect(kinds(h, [])).toEqual([])
    const c = [
      w('x', [{ kind: 'upsert', k: 2, col: 'a', token: 'u1' }], ok),
      w('y', [{ kind: 'upsert', k: 2, col: 'a', token: 'u2' }], ok),
    ]
    expect(kinds(c, [row(2, 'u1')])).toEqual([])
    expect(kinds(c, [row(2, 'u2')])).toEqual([])
  })
  it('indeterminate writes may or may not be there; failed ones must not', () => {
    const h = [
      w('x', [{ kind: 'upsert', k: 1, col: 'a', token: 't1' }], ok),
      w('y', [{ kind: 'delete', k: 1 }], { status: 'unknown' }),
    ]
    expect(kinds(h, [])).toEqual([])
    expect(kinds(h, [row(1, 't1')])).toEqual([])
    const f = [w('x', [{ kind: 'upsert', k: 1, col: 'a', token: 't1' }], { status: 'failed' })]
    expect(kinds(f, [row(1, 't1')])).toContain('phantom-value')
  })
  it('flags a version given out twice and values nobody wrote', () => {
    const h = [
      w('x', [{ kind: 'upsert', k: 1, col: 'a', token: 't1' }], ok, 7),
      w('x', [{ kind: 'upsert', k: 2, col: 'a', token: 't2' }], ok, 7),
    ]
    expect(kinds(h, [row(1, 't1'), row(2, 't2')])).toEqual(['version-reused'])
    expect(kinds([], [row(3, 'zzz')])).toEqual(expect.arrayContaining(['phantom-row', 'phantom-value']))
  })
  it('effects follow statement order inside a transaction', () => {
    const e = effects([
      { kind: 'upsert', k: 1, col: 'a', token: 'a1' },
      { kind: 'delete', k: 1 },
      { kind: 'set', k: 1, col: 'b', token: 'b1' },
      { kind: 'insert', k: 2, a: 'x', b: 'y' },
    ])
    expect(e.cells).toEqual([
      { k: 1, col: 'b', token: 'b1' },
      { k: 2, col: 'a', token: 'x' },
      { k: 2, col: 'b', token: 'y' },
    ])
    expect(effects([{ kind: 'set', k: 1, col: 'b', token: 'b1' }], [0]).cells).toEqual([])
  })
})
