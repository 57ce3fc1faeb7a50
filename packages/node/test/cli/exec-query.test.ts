/** `patina exec` and `patina query` against a fake API: parameter binding like Corrosion, output formats, errors. */
import { describe, expect, it } from 'vitest'
import { cliTestState, fakeApi, run } from './helpers.js'

const t = cliTestState()

describe('exec', () => {
  it('binds --param as text like Corrosion, --param-json by its type, in command-line order', async () => {
    const f = fakeApi()
    const r = await run(
      [
        'exec',
        '--param',
        'some-id',
        '--param-json',
        '42',
        '--param',
        '42',
        '--param-json',
        'null',
        '--param',
        'null',
        '--param-json',
        '4.5',
        '--param-json',
        '[1,255]',
        '--param',
        '"7"',
        '--timer',
        'INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ],
      { cwd: t.dir, createApi: f.create },
    )
    expect(r.code).toBe(0)
    expect(f.calls.transactions).toEqual([
      [
        [
          'INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          ['some-id', 42, '42', null, 'null', 4.5, [1, 255], '"7"'],
        ],
      ],
    ])
    expect(r.stdout).toBe('Rows affected: 1\nRun Time: real 0.001\n')
    expect(f.calls.closed).toBe(1)
  })

  it('refuses --param-json values the client would change on the way, saying what to do', async () => {
    const f = fakeApi()
    const notJson = await run(['exec', '--param-json', 'abc', 'SELECT ?'], {
      cwd: t.dir,
      createApi: f.create,
    })
    expect(notJson.code).toBe(1)
    expect(notJson.stderr).toMatch(/not JSON .*use --param for text/)
    const real = await run(['exec', '--param-json', '2.0', 'SELECT ?'], { cwd: t.dir, createApi: f.create })
    expect(real.code).toBe(1)
    expect(real.stderr).toMatch(/would be sent as the integer 2; .*CAST\(\? AS REAL\)/)
    const big = await run(['exec', '--param-json', '9007199254740993', 'SELECT ?'], {
      cwd: t.dir,
      createApi: f.create,
    })
    expect(big.code).toBe(1)
    expect(big.stderr).toMatch(/beyond ±2\^53/)
    expect(f.calls.transactions).toEqual([])
  })

  it('sends the bare SQL without params, and fails on an error result', async () => {
    const f = fakeApi({
      exec: () => ({ results: [{ error: 'no such table: nope' }], time: 0, version: null, actor_id: 'a' }),
    })
    const r = await run(['exec', 'DELETE FROM nope'], { cwd: t.dir, createApi: f.create })
    expect(f.calls.transactions).toEqual([['DELETE FROM nope']])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('error: no such table: nope\n')
  })
})

describe('query', () => {
  const events = () => [
    { columns: ['id', 'title', 'done', 'data'] },
    {
      row: [1, ['some-id', 'Write docs', null, [1, 255]]] as [number, (string | number | null | number[])[]],
    },
    { row: [2, ['other', 'Ship it', 1, null]] as [number, (string | number | null | number[])[]] },
    { eoq: { time: 0.0004 } },
  ]

  it('prints rows like Corrosion: cells joined by |, NULL empty', async () => {
    const f = fakeApi({ query: events })
    const r = await run(
      ['query', '--columns', '--timer', '--param', '1', 'SELECT * FROM todos WHERE x > ?'],
      {
        cwd: t.dir,
        createApi: f.create,
      },
    )
    expect(r.code).toBe(0)
    expect(f.calls.queries).toEqual([['SELECT * FROM todos WHERE x > ?', ['1']]])
    expect(r.stdout).toBe(
      "id|title|done|data\nsome-id|Write docs||x'01ff'\nother|Ship it|1|\ntime: 0.0004s\n",
    )
  })

  it('prints an aligned table', async () => {
    const r = await run(['query', '--format', 'table', 'SELECT * FROM todos'], {
      cwd: t.dir,
      createApi: fakeApi({ query: events }).create,
    })
    expect(r.stdout).toBe(
      [
        'id      | title      | done | data',
        '--------+------------+------+--------',
        "some-id | Write docs | NULL | x'01ff'",
        'other   | Ship it    | 1    | NULL',
        '(2 rows)',
        '',
      ].join('\n'),
    )
  })

  it('prints one JSON object per row', async () => {
    const r = await run(['query', '--format', 'json', 'SELECT * FROM todos'], {
      cwd: t.dir,
      createApi: fakeApi({ query: events }).create,
    })
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([
      { id: 'some-id', title: 'Write docs', done: null, data: [1, 255] },
      { id: 'other', title: 'Ship it', done: 1, data: null },
    ])
  })

  it('fails with the server error event', async () => {
    const r = await run(['query', 'SELECT nope'], {
      cwd: t.dir,
      createApi: fakeApi({ query: () => [{ error: 'no such column: nope' }] }).create,
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('error: no such column: nope\n')
  })
})
