import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { CliDeps } from '../../src/cli/context.js'
import { runCli } from '../../src/cli/program.js'
import { fakeApi } from './helpers.js'

const FAKE_AGENT = fileURLToPath(new URL('./fixtures/fake-agent.mjs', import.meta.url))

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'patina-devcmd-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('patina dev (orchestration, with a stand-in agent)', () => {
  it('starts workers and edges, seeds with progress, prints URLs and commands, and stops them all', async () => {
    const ctl = new AbortController()
    let stdout = ''
    const code = await runCli(['dev', '--workers', '2', '--edges', '1', '--dir', 'cluster'], {
      cwd: dir,
      env: { PATINA_CLI: 'bin/patina' },
      shutdown: ctl.signal,
      createApi: fakeApi().create,
      selfCommand: { command: process.execPath, args: [FAKE_AGENT] },
      stdout: {
        write: (s: string) => {
          stdout += s
          if (stdout.includes('Ctrl-C stops everything.') && stdout.includes('edge running'))
            ctl.abort('SIGINT')
        },
      },
      stderr: { write: () => true },
    })
    expect(code, stdout).toBe(0)
    expect(stdout).toMatch(/worker-1 \| \d\d:\d\d:\d\d\.\d{3} INFO {2}\[fake\] fake agent listening port=\d+/)
    expect(stdout).toMatch(/worker-2 \| .*fake agent listening/)
    expect(stdout).toMatch(/edge-1 +\| .*edge running queries=1/)
    expect(stdout).toContain('seeding: apps (3 rows) - 3/21')
    expect(stdout).toContain('seeding: routes (12 rows) - 21/21')
    expect(stdout).toContain('worker-2 has the demo data')
    expect(stdout).toMatch(/worker-1 +API http:\/\/127\.0\.0\.1:\d+/)
    expect(stdout).toContain('bin/patina -c cluster/worker-1/config.toml query --columns')
    // the kill hint names the worker its pid belongs to, and how to restart that worker
    const worker2 = /worker-2 +API http:\/\/127\.0\.0\.1:\d+ +pid (\d+)/.exec(stdout)?.[1]
    expect(worker2).toBeDefined()
    expect(stdout).toContain(`Kill worker-2 (pid ${worker2}): kill ${worker2}\n`)
    expect(stdout).toContain('Ctrl-C stops it): bin/patina -c cluster/worker-2/config.toml agent\n')
    expect(stdout).toMatch(/dev +\| stopped\n$/)
    // every child it started was stopped, by pid
    const stopping = /stopping (.*)\n/.exec(stdout)?.[1] ?? ''
    const pids = [...stopping.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]))
    expect(pids).toHaveLength(3)
    for (const pid of pids) expect(alive(pid)).toBe(false)
    // the demo data went to worker-1 as three transactions, one per table
    const txs = readFileSync(join(dir, 'cluster/worker-1/transactions.ndjson'), 'utf8').trim().split('\n')
    expect(txs.map((t) => (JSON.parse(t) as unknown[]).length)).toEqual([3, 6, 12])
    expect(readFileSync(join(dir, 'cluster/schema/routing.sql'), 'utf8')).toContain('CREATE TABLE routes')
  })

  it('reports a worker that dies before answering', async () => {
    const r = { stdout: '', stderr: '' }
    const die = join(dir, 'die.mjs')
    writeFileSync(die, 'console.log("boom: bad config"); process.exit(3)\n')
    const code = await runCli(['dev', '--workers', '1', '--edges', '0', '--dir', 'cluster'], {
      cwd: dir,
      env: {},
      shutdown: new AbortController().signal,
      createApi: fakeApi().create,
      selfCommand: { command: process.execPath, args: [die] },
      stdout: { write: (s: string) => (r.stdout += s) },
      stderr: { write: (s: string) => (r.stderr += s) },
    })
    expect(code).toBe(1)
    expect(r.stderr).toContain(
      'worker-1 exited (code 3) before its API answered; last lines:\nboom: bad config',
    )
  })

  it('names a taken port at once, before it starts or deletes anything', async () => {
    // Another program (a plain HTTP server) holds the port worker-1's API would get.
    const other = await listen((_req, res) => res.end('not patina'))
    const port = portOf(other)
    try {
      mkdirSync(join(dir, 'cluster/worker-1'), { recursive: true })
      writeFileSync(join(dir, 'cluster/worker-1/state.db'), 'data of a previous run')
      const marker = join(dir, 'started')
      writeFileSync(
        join(dir, 'mark.mjs'),
        `import { writeFileSync } from 'node:fs'\nwriteFileSync(${JSON.stringify(marker)}, 'x')\n`,
      )
      const r = await runDev(
        ['dev', '--workers', '1', '--edges', '0', '--base-port', String(port), '--dir', 'cluster'],
        {
          selfCommand: { command: process.execPath, args: [join(dir, 'mark.mjs')] },
        },
      )
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(
        `port ${port} (worker-1 API) on 127.0.0.1 is already in use by another program.`,
      )
      expect(r.stderr).toContain(`--base-port ${port} uses ${port} (API), ${port + 100} (gossip)`)
      expect(r.stderr).toMatch(/choose another base with --base-port .*\[PATINA_ERR_ADDR_IN_USE\]\n$/)
      expect(r.stdout).toBe('')
      expect(existsSync(marker)).toBe(false)
      expect(readFileSync(join(dir, 'cluster/worker-1/state.db'), 'utf8')).toBe('data of a previous run')
    } finally {
      await close(other)
    }
  })

  it("stops at once when its worker's API port answers, but not as that worker", async () => {
    // The child takes the API port with a server that answers like `python3 -m http.server`
    // to a GET it does not support: the port was free when dev checked it.
    const imposter = join(dir, 'imposter.mjs')
    writeFileSync(
      imposter,
      [
        "import { readFileSync } from 'node:fs'",
        "import { createServer } from 'node:http'",
        "const cfg = readFileSync(process.argv[process.argv.indexOf('-c') + 1], 'utf8')",
        'const port = Number(/\\[api\\]\\naddr = "127\\.0\\.0\\.1:(\\d+)"/.exec(cfg)[1])',
        "createServer((_q, res) => { res.statusCode = 501; res.end('<!DOCTYPE HTML>\\n<html>Unsupported method</html>') }).listen(port, '127.0.0.1')",
        "process.on('SIGTERM', () => process.exit(0))",
      ].join('\n'),
    )
    const r = await runDev(['dev', '--workers', '1', '--edges', '0', '--dir', 'cluster'], {
      selfCommand: { command: process.execPath, args: [imposter] },
    })
    expect(r.code, r.stdout).toBe(1)
    expect(r.stderr).toMatch(
      /^error: http:\/\/127\.0\.0\.1:(\d+) answers, but not as worker-1: port \1 \(worker-1 API\) is in use by another program; run patina dev again/,
    )
    expect(r.stdout).not.toContain('worker-1 API is up')
    // what it started is stopped
    const pids = [...(/stopping (.*)\n/.exec(r.stdout)?.[1] ?? '').matchAll(/\(pid (\d+)\)/g)].map((m) =>
      Number(m[1]),
    )
    expect(pids).toHaveLength(1)
    for (const pid of pids) expect(alive(pid)).toBe(false)
  })
})

async function runDev(
  argv: string[],
  over: Partial<CliDeps>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = { stdout: '', stderr: '' }
  const code = await runCli(argv, {
    cwd: dir,
    env: {},
    shutdown: new AbortController().signal,
    createApi: fakeApi().create,
    stdout: { write: (s: string) => (r.stdout += s) },
    stderr: { write: (s: string) => (r.stderr += s) },
    ...over,
  })
  return { code, ...r }
}

function listen(handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const server = createServer(handler)
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}
const portOf = (s: Server) => (s.address() as { port: number }).port
const close = (s: Server) => new Promise((r) => s.close(r))
