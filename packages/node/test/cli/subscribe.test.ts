import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { QueryEvent } from '@patina/api'
import { PatinaError } from '@patina/api'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isFatalSubscriptionError as isFatalError, isGoneError, resumingSubscription } from '@patina/client'
import { fakeApi, run } from './helpers.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'patina-sub-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const dropped = Object.assign(new Error('socket hang up'), { code: 'PATINA_ERR_HTTP' })
const gone = Object.assign(new Error('subscription not found'), { code: 'PATINA_ERR_HTTP', httpStatus: 404 })
const snapshot: QueryEvent[] = [
  { columns: ['host', 'backend'] },
  { row: [1, ['a.example', '10.0.0.1']] },
  { eoq: { time: 0.001, change_id: 0 } },
]

async function take(gen: AsyncGenerator<QueryEvent>, n: number): Promise<QueryEvent[]> {
  const out: QueryEvent[] = []
  for await (const ev of gen) {
    out.push(ev)
    if (out.length === n) break
  }
  return out
}

describe('resumingSubscription', () => {
  it('resumes the same subscription from the last change id after a drop', async () => {
    const f = fakeApi({
      streams: [
        {
          id: 's1',
          events: [...snapshot, { change: ['update', 1, ['a.example', '10.0.0.2'], 1] }],
          error: dropped,
        },
        { id: 's1', events: [{ change: ['update', 1, ['a.example', '10.0.0.3'], 2] }], error: dropped },
        { id: 's1', events: [{ change: ['delete', 1, ['a.example', '10.0.0.3'], 3] }] },
      ],
      resumeErrors: [undefined, Object.assign(new Error('ECONNREFUSED'), { code: 'PATINA_ERR_HTTP' })],
    })
    const notices: string[] = []
    const sleeps: number[] = []
    const events = await take(
      resumingSubscription(f.create({ url: 'x' }), 'SELECT * FROM routes', {
        onNotice: (m) => notices.push(m),
        sleep: async (ms) => void sleeps.push(ms),
        random: () => 0.5,
      }),
      6,
    )
    expect(events.map((e) => Object.keys(e)[0])).toEqual([
      'columns',
      'row',
      'eoq',
      'change',
      'change',
      'change',
    ])
    expect(events.slice(3).map((e) => ('change' in e ? e.change[3] : -1))).toEqual([1, 2, 3])
    // resumed from 1, then a refused attempt, then from 2 again
    expect(f.calls.resumes).toEqual([
      { id: 's1', from: 1 },
      { id: 's1', from: 2 },
      { id: 's1', from: 2 },
    ])
    expect(sleeps).toEqual([100, 100, 200])
    expect(notices[0]).toBe('subscription s1 dropped (socket hang up); resuming from change 1')
    expect(notices).toContain('resume failed (ECONNREFUSED); retrying')
  })

  it('subscribes again when the worker no longer knows the subscription', async () => {
    const f = fakeApi({
      streams: [
        { id: 's1', events: [...snapshot], error: dropped },
        { id: 's2', events: [...snapshot] },
      ],
      resumeErrors: [gone],
    })
    const notices: string[] = []
    const events = await take(
      resumingSubscription(f.create({ url: 'x' }), 'SELECT * FROM routes', {
        onNotice: (m) => notices.push(m),
        sleep: async () => {},
      }),
      6,
    )
    expect(events).toHaveLength(6)
    expect(f.calls.subscribes).toHaveLength(2)
    expect(notices).toContain(
      'subscription was gone on the worker; subscribed again as s2 (a new snapshot follows)',
    )
  })

  it('stops on a missed change instead of papering over it', async () => {
    const missed = new PatinaError(
      'PATINA_ERR_MISSED_CHANGE',
      'missed a change (expected change_id 2, got 4)',
    )
    const f = fakeApi({ streams: [{ id: 's1', events: [...snapshot], error: missed }] })
    await expect(
      take(resumingSubscription(f.create({ url: 'x' }), 'SELECT 1', { sleep: async () => {} }), 10),
    ).rejects.toBe(missed)
  })

  it('classifies errors', () => {
    expect(isGoneError(gone)).toBe(true)
    expect(isGoneError({ serverCode: 'PATINA_ERR_CHANGE_ID_TOO_OLD', httpStatus: 410 })).toBe(true)
    expect(isFatalError({ httpStatus: 400 })).toBe(true)
    expect(isFatalError(gone)).toBe(false)
    expect(isFatalError(dropped)).toBe(false)
  })
})

describe('patina subscribe', () => {
  it('prints NDJSON events until shut down, with resume notices on stderr', async () => {
    const f = fakeApi({
      streams: [
        { id: 's1', events: [...snapshot], error: dropped },
        { id: 's1', events: [{ change: ['insert', 2, ['b.example', '10.0.0.9'], 1] }] },
        { id: 's1', events: [] },
      ],
    })
    const ctl = new AbortController()
    let stdout = ''
    let stderr = ''
    const { runCli } = await import('../../src/cli/program.js')
    const code = await runCli(['subscribe', '--param', 'x', 'SELECT * FROM routes WHERE app = ?'], {
      cwd: dir,
      env: {},
      shutdown: ctl.signal,
      createApi: f.create,
      stdout: {
        write: (s: string) => {
          stdout += s
          if (stdout.split('\n').length > 4) ctl.abort('SIGINT')
        },
      },
      stderr: { write: (s: string) => (stderr += s) },
    })
    expect(code).toBe(0)
    expect(
      stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([...snapshot, { change: ['insert', 2, ['b.example', '10.0.0.9'], 1] }])
    expect(f.calls.subscribes[0]?.statement).toEqual(['SELECT * FROM routes WHERE app = ?', ['x']])
    expect(stderr).toContain('resuming from change 0')
    expect(f.calls.closed).toBe(1)
  })

  it('rejects a bad --from', async () => {
    const r = await run(['subscribe', '--from', '-1', 'SELECT 1'], { cwd: dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('expected a change id')
  })
})
