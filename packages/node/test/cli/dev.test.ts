import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
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
      env: {},
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
    expect(stdout).toContain('pnpm patina -c cluster/worker-1/config.toml query --columns')
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
})
