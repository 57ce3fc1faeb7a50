/**
 * Every endpoint through Debian's curl, a client no one here wrote: HTTP/2 with prior knowledge
 * (`--http2-prior-knowledge`, what Corrosion's own client speaks) and plain HTTP/1.1, including
 * long-lived streams, many transfers multiplexed on one connection, and a client killed
 * mid-stream. `scripts/setup.sh` installs curl with HTTP/2 support.
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveApi, type ServedApi } from './transports.js'

const SCHEMA = 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);'

function curlFeatures(): string {
  try {
    return execFileSync('curl', ['-V'], { encoding: 'utf8' })
  } catch {
    return ''
  }
}

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

/** A long-lived curl transfer whose NDJSON lines are collected as they arrive. */
function curlStream(args: string[]): {
  lines: Record<string, unknown>[]
  waitFor(n: number): Promise<void>
  kill(): Promise<void>
} {
  const child = spawn('curl', ['-sSN', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: Record<string, unknown>[] = []
  let buf = ''
  let err = ''
  let exited = false
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const waiters: (() => void)[] = []
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString()
    let nl
    while ((nl = buf.indexOf('\n')) !== -1) {
      lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>)
      buf = buf.slice(nl + 1)
    }
    for (const w of waiters.splice(0)) w()
  })
  const exit = new Promise<void>((r) =>
    child.once('exit', (code, sig) => {
      err += ` (exit ${code} ${sig})`
      exited = true
      for (const w of waiters.splice(0)) w()
      r()
    }),
  )
  return {
    lines,
    async waitFor(n) {
      while (lines.length < n) {
        if (exited)
          throw new Error(`curl exited after ${lines.length} lines: ${JSON.stringify(lines)} ${err}`)
        await new Promise<void>((r) => waiters.push(r))
      }
    },
    async kill() {
      child.kill('SIGKILL')
      await exit
    },
  }
}

const listeners = (s: ServedApi): number => s.api.hub.list().reduce((n, x) => n + x.listeners, 0)

describe('curl', () => {
  it('is installed with HTTP/2 support (scripts/setup.sh installs it)', () => {
    expect(curlFeatures()).toMatch(/^Features:.*\bHTTP2\b/m)
  })

  describe.each([
    ['--http2-prior-knowledge', 'HTTP/2'],
    ['--http1.1', 'HTTP/1.1'],
  ])('%s', (flag, version) => {
    let s: ServedApi
    beforeAll(async () => {
      s = await serveApi('http1', {}, SCHEMA)
    })
    afterAll(async () => {
      await s.close()
    })
    const url = (p: string) => s.server.url + p
    const json = ['-H', 'content-type: application/json']

    it(`answers every request-response endpoint over ${version}`, async () => {
      const tx = await curl([
        flag,
        '-w',
        '\n%{http_version}',
        ...json,
        '-d',
        '[["INSERT INTO t (id, v) VALUES (?, ?)", [1, "a"]]]',
        url('/v1/transactions'),
      ])
      const [txBody, txVersion] = tx.stdout.split('\n')
      expect(txVersion).toBe(version === 'HTTP/2' ? '2' : '1.1')
      expect(JSON.parse(txBody as string)).toMatchObject({
        results: [{ rows_affected: 1 }],
        version: expect.any(Number),
      })

      const q = await curl([flag, ...json, '-d', '"SELECT id, v FROM t"', url('/v1/queries')])
      expect(q.stdout.split('\n').slice(0, 2)).toEqual(['{"columns":["id","v"]}', '{"row":[1,[1,"a"]]}'])

      const stats = await curl([flag, ...json, '-d', '{"tables":["t","nope"]}', url('/v1/table_stats')])
      expect(JSON.parse(stats.stdout)).toEqual({ total_row_count: 1, invalid_tables: ['nope'] })

      const health = await curl([flag, url('/v1/health')])
      expect(JSON.parse(health.stdout)).toMatchObject({ response: { gaps: 0 } })

      const members = await curl([flag, url('/v1/cluster/members')])
      expect(JSON.parse(members.stdout)).toMatchObject({ members: [expect.objectContaining({ self: true })] })

      const metrics = await curl([flag, url('/metrics')])
      expect(metrics.stdout).toMatch(/^# HELP patina_api_requests_total/m)

      // curl -d sends application/x-www-form-urlencoded: bodies are JSON whatever the type says.
      const form = await curl([flag, '-d', '"SELECT 2"', url('/v1/queries')])
      expect(form.stdout.split('\n')[1]).toBe('{"row":[1,[2]]}')
    })

    it(`answers bad input with a 4xx and the error shape over ${version}`, async () => {
      const deep = '['.repeat(50_000) + ']'.repeat(50_000)
      for (const [path, body] of [
        ['/v1/queries', deep],
        ['/v1/subscriptions', deep],
        ['/v1/transactions', deep],
        ['/v1/queries', '{"query": '],
        ['/v1/queries', 'INSERT INTO t VALUES (9, 9)'],
      ] as const) {
        const r = await curl([flag, '-w', '\n%{http_code}', ...json, '--data-binary', body, url(path)])
        const lines = r.stdout.split('\n')
        const status = Number(lines.pop())
        expect(status, `${path} ${body.slice(0, 20)}`).toBeGreaterThanOrEqual(400)
        expect(status, `${path} ${body.slice(0, 20)}`).toBeLessThan(500)
        const j = JSON.parse(lines.join('\n')) as { error?: string; results?: { error: string }[] }
        expect(j.error ?? j.results?.[0]?.error).toEqual(expect.any(String))
      }
    })

    it(`streams a subscription, re-attaches by id and streams updates over ${version}; a killed client is let go`, async () => {
      const sub = curlStream([flag, ...json, '-d', '"SELECT id, v FROM t"', url('/v1/subscriptions')])
      await sub.waitFor(3)
      expect(sub.lines[0]).toEqual({ columns: ['id', 'v'] })
      const upd = curlStream([flag, '-X', 'POST', url('/v1/updates/t')])
      await expect.poll(() => listeners(s)).toBe(1)
      const id = s.api.hub.list()[0]?.id as string
      const byId = curlStream([flag, url(`/v1/subscriptions/${id}?skip_rows=true`)])
      await expect.poll(() => listeners(s)).toBe(2)
      const tx = await curl([
        flag,
        ...json,
        '-d',
        '["UPDATE t SET v = \'b\' WHERE id = 1"]',
        url('/v1/transactions'),
      ])
      expect(tx.code).toBe(0)
      await sub.waitFor(4)
      await byId.waitFor(1)
      await upd.waitFor(1)
      const change = sub.lines[3]?.['change'] as unknown[]
      expect(change.slice(0, 3)).toEqual(['update', 1, [1, 'b']])
      expect(byId.lines[0]).toEqual(sub.lines[3])
      expect(upd.lines[0]).toEqual({ notify: ['update', [1]] })
      await sub.kill()
      await byId.kill()
      await upd.kill()
      await expect.poll(() => listeners(s), { timeout: 5_000 }).toBe(0)
      expect((await curl([flag, url('/v1/health')])).code).toBe(0)
    })
  })

  it('serves 20 concurrent curl subscriptions over h2c, each sees the change', async () => {
    // Many streams on one connection are proven with node:http2 (server.test.ts): this curl,
    // 7.88, cannot reuse an h2 prior-knowledge connection at all ("Error in the HTTP2 framing
    // layer" on the second transfer, against Node's plain http2 server too), so each curl here
    // holds its own.
    const s = await serveApi('http1', {}, SCHEMA)
    try {
      const subs = Array.from({ length: 20 }, (_, i) =>
        curlStream([
          '--http2-prior-knowledge',
          '-H',
          'content-type: application/json',
          '-d',
          JSON.stringify(['SELECT id, v FROM t WHERE id > ?', [i % 3]]),
          s.server.url + '/v1/subscriptions',
        ]),
      )
      for (const sub of subs) await sub.waitFor(2)
      expect(s.server.connections().http2).toBe(20)
      await s.post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (5, 'x')"])
      for (const sub of subs) {
        await sub.waitFor(3)
        expect(sub.lines[2]).toEqual({ change: ['insert', 1, [5, 'x'], 1] })
      }
      await Promise.all(subs.map((x) => x.kill()))
      await expect.poll(() => listeners(s), { timeout: 5_000 }).toBe(0)
    } finally {
      await s.close()
    }
  })
})
