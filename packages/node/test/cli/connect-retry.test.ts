import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createDefaultApi } from '../../src/cli/client.js'
import { connectionRefused, retryWhileRefused } from '../../src/cli/connect-retry.js'
import { run } from './helpers.js'

const refused = () =>
  Object.assign(new Error('POST http://127.0.0.1:9/v1/queries failed: connect ECONNREFUSED'), {
    code: 'PATINA_ERR_HTTP',
    cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
  })

/** A clock that moves only when the code under test sleeps. */
function fakeTime() {
  let t = 0
  const slept: number[] = []
  return {
    now: () => t,
    sleep: async (ms: number) => {
      slept.push(ms)
      t += ms
    },
    slept,
  }
}

describe('connectionRefused', () => {
  it.each([
    ['ECONNREFUSED itself', Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), true],
    ['as the cause of a client error', refused(), true],
    ['two causes deep', new Error('a', { cause: refused() }), true],
    ['another network error', Object.assign(new Error('x'), { cause: { code: 'ECONNRESET' } }), false],
    [
      'an HTTP error answer',
      Object.assign(new Error('x'), { code: 'PATINA_ERR_HTTP', httpStatus: 500 }),
      false,
    ],
    ['not an object', 'ECONNREFUSED', false],
    ['undefined', undefined, false],
  ])('%s → %s', (_name, err, want) => {
    expect(connectionRefused(err)).toBe(want)
  })
})

describe('retryWhileRefused', () => {
  it('retries a refused connection, says so once, and returns the answer', async () => {
    const time = fakeTime()
    const notes: string[] = []
    let calls = 0
    const got = await retryWhileRefused(
      async () => {
        if (++calls < 4) throw refused()
        return 'rows'
      },
      { url: 'http://127.0.0.1:9', onWait: (m) => notes.push(m), ...time },
    )
    expect(got).toBe('rows')
    expect(calls).toBe(4)
    expect(time.slept).toEqual([250, 250, 250])
    expect(notes).toEqual([
      'http://127.0.0.1:9 refused the connection (the agent may be starting); retrying for up to 10 s',
    ])
  })

  it('gives up after its budget with a message that names the URL', async () => {
    const time = fakeTime()
    let calls = 0
    const err = await retryWhileRefused(
      async () => {
        calls++
        throw refused()
      },
      { url: 'http://127.0.0.1:9', budgetMs: 1_000, intervalMs: 100, onWait: () => {}, ...time },
    ).catch((e: unknown) => e)
    expect(calls).toBe(11) // at t = 0, 100, ..., 1000
    expect(err).toMatchObject({
      code: 'PATINA_ERR_HTTP',
      message:
        'no agent answers at http://127.0.0.1:9: the connection was refused for 1 s (11 attempts); ' +
        'is `patina -c <config> agent` running, and is the API address right?',
    })
  })

  it('passes any other error through at once, and does not retry with a budget of 0', async () => {
    const time = fakeTime()
    const other = new Error('no such table: x')
    await expect(
      retryWhileRefused(
        async () => {
          throw other
        },
        { url: 'u', onWait: () => {}, ...time },
      ),
    ).rejects.toBe(other)
    let calls = 0
    await expect(
      retryWhileRefused(
        async () => {
          calls++
          throw refused()
        },
        { url: 'u', budgetMs: 0, onWait: () => {}, ...time },
      ),
    ).rejects.toMatchObject({ message: expect.stringContaining('no agent answers at u') })
    expect(calls).toBe(1)
    expect(time.slept).toEqual([])
  })

  it('stops retrying when the command is interrupted', async () => {
    const time = fakeTime()
    const ctl = new AbortController()
    let calls = 0
    await expect(
      retryWhileRefused(
        async () => {
          if (++calls === 2) ctl.abort('SIGINT')
          throw refused()
        },
        { url: 'u', onWait: () => {}, signal: ctl.signal, ...time },
      ),
    ).rejects.toMatchObject({ code: 'PATINA_ERR_HTTP' })
    expect(calls).toBe(2)
  })
})

describe('query right after the agent restarts (real client, loopback)', () => {
  let dir: string | undefined
  let server: Server | undefined
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()))
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('waits for the API to listen instead of failing with ECONNREFUSED', async () => {
    dir = mkdtempSync(join(tmpdir(), 'patina-retry-'))
    // A port nothing listens on yet.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port
        s.close(() => resolve(p))
      })
    })
    let stderr = ''
    const running = run(['--api-addr', `127.0.0.1:${port}`, 'query', 'SELECT 1'], {
      cwd: dir,
      createApi: createDefaultApi,
      connectRetryMs: 20_000,
      stderr: {
        write: (s: string) => {
          stderr += s
          // The command said it waits: now the "agent" starts listening.
          if (s.includes('refused the connection') && server === undefined) {
            server = createHttpServer((_req, res) => {
              res.setHeader('content-type', 'application/x-ndjson')
              res.end('{"columns":["1"]}\n{"row":[1,[1]]}\n{"eoq":{"time":0.0001}}\n')
            }).listen(port, '127.0.0.1')
          }
          return true
        },
      },
    })
    const r = await running
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe('1\n')
    expect(stderr).toBe(
      `http://127.0.0.1:${port} refused the connection (the agent may be starting); retrying for up to 20 s\n`,
    )
  })
})
