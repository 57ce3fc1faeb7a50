/** The stream checker used by the edge process tests catches what it claims to catch. */
import { describe, expect, it } from 'vitest'
import type { JsonSqlValue } from '@patina/api'
import type { LiveChange } from '@patina/client'
import { checkEventStream, RouteWriter, type AckedWrite } from '../helpers/edge.js'

describe('checkEventStream', () => {
  const writer = new RouteWriter()
  const add = (n: number, op: AckedWrite['op']): void => {
    const a: AckedWrite = { n, host: 'h-a1', op, worker: 'w1' }
    writer.acked.push(a)
    const l = writer.byHost.get(a.host)
    if (l) l.push(a)
    else writer.byHost.set(a.host, [a])
  }
  add(1, 'insert')
  add(2, 'update')
  add(3, 'delete')
  const c = (n: number): JsonSqlValue[] => ['h-a1', 'app-1', `v${n}`, n]
  /** the row with the columns of write n but not those of the insert */
  const p = (n: number): JsonSqlValue[] => ['h-a1', null, `v${n}`, n]
  const ev = (
    seq: number,
    type: LiveChange['type'],
    cells: JsonSqlValue[],
    previous: JsonSqlValue[] | null,
    source: LiveChange['source'] = 'change',
  ): LiveChange => ({ seq, type, rowid: 1, cells, previous, source, worker: 'x' })

  it('accepts a complete stream, a coalesced one, and a documented backwards reconcile', () => {
    expect(
      checkEventStream(
        's',
        [ev(1, 'insert', c(1), null), ev(2, 'update', c(2), c(1)), ev(3, 'delete', c(2), c(2))],
        writer,
      ),
    ).toMatchObject({ coalesced: 0, backwards: 0 })
    expect(
      checkEventStream('s', [ev(1, 'insert', c(2), null), ev(2, 'delete', c(2), c(2))], writer),
    ).toMatchObject({
      coalesced: 1,
    })
    const back = [
      ev(1, 'insert', c(2), null),
      ev(2, 'update', c(1), c(2), 'reconcile'),
      ev(3, 'update', c(2), c(1)),
      ev(4, 'delete', c(2), c(2)),
    ]
    expect(checkEventStream('s', back, writer)).toMatchObject({ backwards: 1, redelivered: 1 })
    // the update's version applied before the insert's: app is null until the insert arrives
    const partial = [ev(1, 'insert', p(2), null), ev(2, 'update', c(2), p(2)), ev(3, 'delete', c(2), c(2))]
    expect(checkEventStream('s', partial, writer)).toMatchObject({ partialRows: 1, coalesced: 1 })
  })

  it('rejects duplicates, gaps, loss, reordering and unknown states', () => {
    const bad: Record<string, LiveChange[]> = {
      'insert of a key already present': [ev(1, 'insert', c(1), null), ev(2, 'insert', c(1), null)],
      'gap or repeat': [
        ev(1, 'insert', c(1), null),
        ev(3, 'update', c(2), c(1)),
        ev(4, 'delete', c(2), c(2)),
      ],
      'last acknowledged write': [ev(1, 'insert', c(1), null), ev(2, 'update', c(2), c(1))],
      'back to': [ev(1, 'insert', c(2), null), ev(2, 'update', c(1), c(2)), ev(3, 'delete', c(1), c(1))],
      'changes nothing': [
        ev(1, 'insert', c(2), null),
        ev(2, 'update', c(2), c(2)),
        ev(3, 'delete', c(2), c(2)),
      ],
      'not the state of any': [ev(1, 'insert', c(4), null)],
      'previous ': [ev(1, 'insert', c(1), null), ev(2, 'delete', c(2), c(2))],
      'not the state of any acknowledged': [ev(1, 'insert', p(1), null)],
      'from rank 5 back to 4': [
        ev(1, 'insert', c(2), null),
        ev(2, 'update', p(2), c(2)),
        ev(3, 'delete', p(2), p(2)),
      ],
    }
    for (const [msg, events] of Object.entries(bad))
      expect(() => checkEventStream('s', events, writer)).toThrow(msg)
  })
})
