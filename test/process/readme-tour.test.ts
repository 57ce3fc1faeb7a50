/**
 * Runs the README's tour, command by command, against `patina dev`: the commands are read
 * from the README (between the tour markers) and run as a newcomer runs them, through a shell
 * and `bin/patina`, so the README cannot drift from what works.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/cluster.js'
import { freePort, ROOT } from '../helpers/process.js'

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const tour = readme.slice(readme.indexOf('<!-- tour:start -->'), readme.indexOf('<!-- tour:end -->'))
const commands = tour.split('\n').filter((l) => /^(bin\/patina|curl|kill) /.test(l))
const command = (needle: string, from = 0): string => {
  const found = commands.slice(from).find((c) => c.includes(needle))
  if (found === undefined) throw new Error(`the README tour has no command with "${needle}"`)
  return found
}

/** A base port whose API, gossip and edge ports (base+i, base+100+i, base+200) are all free. */
async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 20000)
    const ports = [0, 1, 2, 100, 101, 102, 200].map((d) => base + d)
    const ok = ports.map(
      (p) =>
        spawnSync(process.execPath, [
          '-e',
          `require('net').createServer().once('error',()=>process.exit(1)).listen(${p},'127.0.0.1',()=>process.exit(0))`,
        ]).status === 0,
    )
    if (ok.every(Boolean)) return base
  }
  return await freePort() // unlikely fallback
}

interface Ran {
  status: number | null
  stdout: string
  stderr: string
}

describe('README tour', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patina-tour-'))
  const devDir = join(dir, '.patina-dev')
  let base = 0
  let dev: ChildProcess | undefined
  const devOut: string[] = []
  const started: ChildProcess[] = []

  /** The README line with its paths and ports pointed at this test's cluster. */
  const adapt = (line: string) =>
    line
      .replaceAll('.patina-dev/', `${devDir}/`)
      .replace(/127\.0\.0\.1:(8\d\d\d)\b/g, (_m, p: string) => `127.0.0.1:${base + Number(p) - 8080}`)

  /** Runs a README line in bash from the checkout, as typed. */
  const run = (line: string): Promise<Ran> =>
    new Promise((resolve) => {
      const child = spawn('bash', ['-c', adapt(line)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
      const out = { stdout: '', stderr: '' }
      child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()))
      child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()))
      child.once('exit', (status) => resolve({ status, ...out }))
    })

  /** Starts a README line that keeps its terminal (`exec`: the pid is the command's own). */
  const start = (line: string, output: string[]): ChildProcess => {
    const child = spawn('bash', ['-c', `exec ${adapt(line)}`], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout?.on('data', (d: Buffer) => output.push(d.toString()))
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()))
    started.push(child)
    return child
  }

  beforeAll(async () => {
    expect(commands.length).toBeGreaterThanOrEqual(10)
    base = await freeBase()
    expect(readme).toContain('bash scripts/setup.sh && bin/patina dev\n')
    expect(readme).toContain('bin/patina dev --base-port 8080\n')
    dev = spawn(join(ROOT, 'bin/patina'), ['dev', '--base-port', String(base), '--dir', devDir], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    dev.stdout?.on('data', (d: Buffer) => devOut.push(d.toString()))
    dev.stderr?.on('data', (d: Buffer) => devOut.push(d.toString()))
    await waitFor(
      'the dev cluster',
      () =>
        devOut.join('').includes('Patina dev cluster is up') && devOut.join('').includes('edge listening'),
      120_000,
    )
  }, 180_000)

  afterAll(async () => {
    for (const c of started) if (c.exitCode === null) c.kill('SIGKILL')
    if (dev && dev.exitCode === null) {
      dev.kill('SIGINT')
      await new Promise((r) => dev!.once('exit', r))
    }
    rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  it('dev prints the commands as bin/patina runs them', () => {
    expect(devOut.join('')).toContain(`bin/patina -c ${devDir}/worker-1/config.toml query --columns`)
  })

  it('follows changes with subscribe while writing, reading, listing members and looking up on the edge', async () => {
    const subOut: string[] = []
    start(command(' subscribe '), subOut)
    await waitFor('subscription snapshot', () => subOut.join('').includes('shop.example.com'), 30_000)

    const w = await run(command(' exec '))
    expect(w.status, w.stderr).toBe(0)
    expect(w.stdout).toBe('Rows affected: 1\n')
    await waitFor('the insert on the subscription', () => subOut.join('').includes('10.0.0.7:8080'), 30_000)
    const r = await run(command(' query --columns '))
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toContain('shop.example|shop|10.0.0.7:8080')

    const members = await run(command('cluster members'))
    expect(members.status, members.stderr).toBe(0)
    expect(members.stdout.match(/alive/g)?.length ?? 0).toBeGreaterThanOrEqual(3)

    const curls = commands.filter((c) => c.startsWith('curl '))
    const write = await run(curls[0]!)
    expect(write.stdout).toMatch(/"version":\d+/)
    await waitFor('the update on the subscription', () => subOut.join('').includes('10.0.0.8:8080'), 30_000)
    const read = await run(curls[1]!)
    expect(read.stdout).toContain('"columns"')
    await waitFor(
      'edge lookup sees the new row',
      async () => (await run(curls[2]!)).stdout.includes('10.0.0.8:8080'),
      30_000,
    )
  })

  it('a killed worker restarts, says when it is ready, and catches up', async () => {
    const out = devOut.join('')
    const pid = Number(/Kill worker-2 \(pid (\d+)\): kill (\d+)/.exec(out)?.[1])
    expect(pid).toBeGreaterThan(0)
    expect(out).toMatch(/worker-2 +API http:\/\/127\.0\.0\.1:\d+ +pid (\d+)/)
    expect(/worker-2 +API \S+ +pid (\d+)/.exec(out)?.[1]).toBe(String(pid))
    process.kill(pid, 'SIGKILL') // worker-2, a process this test started (through dev)
    const kill = commands.findIndex((c) => c.startsWith('kill '))
    const u = await run(command(' exec ', kill))
    expect(u.status, u.stderr).toBe(0)
    const agentOut: string[] = []
    start(command(' agent', kill), agentOut)
    // Sent at once, as a newcomer would: it waits for the agent instead of failing.
    const check = command(' query ', kill)
    const first = await run(check)
    expect(first.status, first.stderr).toBe(0)
    await waitFor('the ready line', () =>
      agentOut.join('').includes('patina agent ready: API http://127.0.0.1:'),
    )
    await waitFor(
      'restarted worker-2 has the write',
      async () => {
        const r = await run(check)
        return r.status === 0 && /shop\.example\|5/.test(r.stdout)
      },
      60_000,
    )
  })
})
