import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  EdgeStateFileError,
  loadEdgeState,
  saveEdgeState,
  stateFilePieces,
  type EdgeState,
} from '../src/state-file.js'

const dir = mkdtempSync(join(tmpdir(), 'patina-edge-state-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const good: EdgeState = {
  format: 'patina-edge-state',
  version: 1,
  saved_at: 1,
  queries: {
    routes: {
      sql: 'SELECT host, backend FROM routes',
      params: null,
      key: ['host'],
      columns: ['host', 'backend'],
      rows: [
        [1, ['a.example', '10.0.0.1']],
        [2, ['b.example', null]],
      ],
    },
  },
}

describe('the edge state file', () => {
  it('round-trips, and a missing file is a cold start (null)', async () => {
    const f = join(dir, 'ok.json')
    await saveEdgeState(f, good)
    expect(await loadEdgeState(f)).toEqual(good)
    expect(await loadEdgeState(join(dir, 'absent.json'))).toBeNull()
  })

  it('is written in pieces whose text is exactly JSON.stringify of the state (property)', () => {
    const cell = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.constant(null),
    )
    const view = fc.record({
      sql: fc.string(),
      params: fc.oneof(fc.constant(null), fc.array(fc.integer())),
      key: fc.array(fc.string(), { minLength: 1, maxLength: 2 }),
      columns: fc.constant(['a', 'b']).map((c) => [...c]),
      rows: fc
        .integer({ min: 0, max: 4100 })
        .map((n) =>
          Array.from({ length: n }, (_, i): [number, Array<string | number | null>] => [
            i + 1,
            [`k${i}`, i % 7 === 0 ? null : i],
          ]),
        ),
    })
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), view, { maxKeys: 3 }),
        fc.array(fc.tuple(fc.nat(), cell), { maxLength: 5 }),
        (queries, extra) => {
          const state: EdgeState = { format: 'patina-edge-state', version: 1, saved_at: 7, queries }
          const first = Object.values(queries)[0]
          for (const [i, c] of extra) first?.rows.push([100_000 + i, [String(i), c]])
          expect([...stateFilePieces(state)].join('')).toBe(JSON.stringify(state))
        },
      ),
      { numRuns: 60 },
    )
  })

  const bad = (over: object): string => JSON.stringify({ ...good, ...over })
  const view = (over: object): string => bad({ queries: { routes: { ...good.queries['routes'], ...over } } })
  const cases: Array<[string, string, string]> = [
    ['truncated', JSON.stringify(good).slice(0, 40), 'is not valid JSON'],
    ['not a state file', '{"hello": 1}', 'is not a patina edge state file'],
    ['another version', bad({ version: 2 }), 'has version 2; this edge reads version 1'],
    ['queries missing', bad({ queries: null }), 'queries is not an object'],
    ['sql missing', view({ sql: 3 }), 'queries.routes sql is not a string'],
    [
      'a row that is not a pair',
      view({ rows: [[1, ['a', 'b']], 'x'] }),
      'queries.routes rows[1] is not a [rowid, cells] pair',
    ],
    [
      'a row with the wrong cell count',
      view({ rows: [[1, ['a']]] }),
      'queries.routes rows[0] does not have one cell per column (2)',
    ],
    [
      'a repeated rowid',
      view({
        rows: [
          [1, ['a', 'b']],
          [1, ['c', 'd']],
        ],
      }),
      'queries.routes rows[1] repeats rowid 1',
    ],
    [
      'a negative rowid',
      view({ rows: [[-1, ['a', 'b']]] }),
      'queries.routes rows[0] rowid -1 is not an integer >= 0',
    ],
    [
      'a cell that is an object',
      view({ rows: [[1, ['a', { x: 1 }]]] }),
      'queries.routes rows[0] holds a value that is not null',
    ],
    ['no key columns', view({ key: [] }), 'queries.routes key is not a non-empty list'],
  ]
  for (const [name, text, message] of cases)
    it(`names the file and the problem: ${name}`, async () => {
      const f = join(dir, `${name.replace(/\W+/g, '-')}.json`)
      writeFileSync(f, text)
      const err = await loadEdgeState(f).then(
        () => null,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(EdgeStateFileError)
      expect((err as Error).message).toContain(`edge state file ${f}: `)
      expect((err as Error).message).toContain(message)
    })
})
