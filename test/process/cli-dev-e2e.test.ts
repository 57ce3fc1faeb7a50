/**
 * `patina dev` with real agents and a real edge, through the real binary: it starts, the
 * cluster answers (workers and edge), and SIGINT stops every process it started.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI, ROOT } from '../helpers/process.js'

const dir = mkdtempSync(join(tmpdir(), 'patina-dev-e2e-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function cli(args: string[]): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
  let stdout = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  return { code, stdout }
}

describe('patina dev', () => {
  it('starts workers and an edge with demo data, answers, and stops everything on SIGINT', async () => {
    const dev = spawn(
      process.execPath,
      [...CLI, 'dev', '--workers', '2', '--edges', '1', '--dir', join(dir, 'c')],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    dev.stdout.on('data', (d: Buffer) => (out += d.toString()))
    dev.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const exited = new Promise<number | null>((resolve) => dev.once('exit', (c) => resolve(c)))
    try {
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          if (out.includes('Ctrl-C stops everything.') && /edge-1 +\| .*edge listening/.test(out)) resolve()
        }
        dev.stdout.on('data', check)
        void exited.then((c) => reject(new Error(`patina dev exited early (${c}):\n${out}`)))
      })
      const cfg1 = join(dir, 'c/worker-1/config.toml')
      const cfg2 = join(dir, 'c/worker-2/config.toml')
      const q = await cli(['-c', cfg2, 'query', 'SELECT count(*) FROM routes'])
      expect(q.stdout).toBe('12\n')
      const m = await cli(['-c', cfg1, 'cluster', 'members'])
      expect(m.stdout).toContain('(2 members)')
      const edgeUrl = /edge-1 +HTTP (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1]
      expect(edgeUrl).toBeDefined()
      let lookup: unknown
      for (let i = 0; i < 100 && lookup === undefined; i++) {
        const res = await fetch(`${edgeUrl}/v1/lookup/routes?key=api.example.com`)
        if (res.ok) lookup = await res.json()
        else await new Promise((r) => setTimeout(r, 100))
      }
      expect(lookup).toMatchObject({ rows: [{ host: 'api.example.com', app: 'api' }] })
    } finally {
      dev.kill('SIGINT')
    }
    const code = await exited
    expect(code, out).toBe(0)
    expect(out).toMatch(/dev +\| stopped\n/)
    const pids = [...(/stopping (.*)\n/.exec(out)?.[1] ?? '').matchAll(/\(pid (\d+)\)/g)].map((x) =>
      Number(x[1]),
    )
    expect(pids).toHaveLength(3)
    for (const pid of pids) expect(alive(pid)).toBe(false)
  }, 120_000)

  it('with --base-port on a port another program holds, says at once which port and which flag moves it', async () => {
    // A plain HTTP server (not Patina) holds the first API port.
    const other = createServer((_req, res) => res.end('<!DOCTYPE HTML><html>someone else</html>'))
    const port = await new Promise<number>((resolve) =>
      other.listen(0, '127.0.0.1', () => resolve((other.address() as { port: number }).port)),
    )
    try {
      const dev = spawn(
        process.execPath,
        [...CLI, 'dev', '--base-port', String(port), '--dir', join(dir, 'taken')],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      )
      let stdout = ''
      let stderr = ''
      dev.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
      dev.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const code = await new Promise<number | null>((resolve) => dev.once('exit', (c) => resolve(c)))
      expect(code, stdout + stderr).toBe(1)
      expect(stderr).toContain(
        `port ${port} (worker-1 API) on 127.0.0.1 is already in use by another program.`,
      )
      expect(stderr).toContain('choose another base with --base-port')
      expect(stdout).toBe('') // nothing was started
    } finally {
      await new Promise((r) => other.close(r))
    }
  }, 20_000)
})
