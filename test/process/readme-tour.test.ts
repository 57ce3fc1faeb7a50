/**
 * Runs the README's tour, command by command, against `patina dev`: the commands are read
 * from the README (between the tour markers), so the README cannot drift from what works.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/cluster.js'
import { CLI, freePort, ROOT } from '../helpers/process.js'

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const tour = readme.slice(readme.indexOf('<!-- tour:start -->'), readme.indexOf('<!-- tour:end -->'))
const commands = tour.split('\n').filter((l) => /^(pnpm patina|curl|kill) /.test(l))

/** A base port whose API, gossip and edge ports (base+i, base+100+i, base+200) are all free. */
async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 20000)
    const ports = [0, 1, 2, 100, 101, 102, 200].map((d) => base + d)
    const ok = await Promise.all(
      ports.map(
        (p) =>
          new Promise<boolean>((resolve) => {
            const s = spawnSync(process.execPath, [
              '-e',
              `require('net').createServer().once('error',()=>process.exit(1)).listen(${p},'127.0.0.1',()=>process.exit(0))`,
            ])
            resolve(s.status === 0)
          }),
      ),
    )
    if (ok.every(Boolean)) return base
  }
  return await freePort() // unlikely fallback
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

  const run = (line: string) => {
    const argv = adapt(line)
    if (argv.startsWith('pnpm patina ')) {
      const args = shellWords(argv.slice('pnpm patina '.length))
      return spawnSync(process.execPath, [...CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
    }
    return spawnSync('bash', ['-c', argv], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
  }

  beforeAll(async () => {
    expect(commands.length).toBeGreaterThanOrEqual(10)
    base = await freeBase()
    const readmeDev = readme.match(/pnpm patina dev --base-port 8080/)
    expect(readmeDev).not.toBeNull()
    dev = spawn(process.execPath, [...CLI, 'dev', '--base-port', String(base), '--dir', devDir], {
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

  it('writes on one worker and reads on another', () => {
    const [exec, query] = commands
    const w = run(exec!)
    expect(w.status, w.stderr).toBe(0)
    const r = run(query!)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toContain('shop.example')
    expect(r.stdout).toContain('10.0.0.7:8080')
  })

  it('follows changes with subscribe, sees curl writes, lists members, and looks up on the edge', async () => {
    const subLine = commands.find((c) => c.includes(' subscribe '))!
    const sub = spawn(
      process.execPath,
      [...CLI, ...shellWords(adapt(subLine).slice('pnpm patina '.length))],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    started.push(sub)
    const subOut: string[] = []
    sub.stdout?.on('data', (d: Buffer) => subOut.push(d.toString()))
    await waitFor('subscription snapshot', () => subOut.join('').includes('shop.example'), 30_000)

    const members = run(commands.find((c) => c.includes('cluster members'))!)
    expect(members.status, members.stderr).toBe(0)
    expect(members.stdout.match(/alive/g)?.length ?? 0).toBeGreaterThanOrEqual(3)

    const curls = commands.filter((c) => c.startsWith('curl '))
    const write = run(curls[0]!)
    expect(write.stdout).toMatch(/"version":\d+/)
    await waitFor(
      'the change event on the subscription',
      () => subOut.join('').includes('10.0.0.8:8080'),
      30_000,
    )
    const read = run(curls[1]!)
    expect(read.stdout).toContain('"columns"')
    await waitFor(
      'edge lookup sees the new row',
      () => run(curls[2]!).stdout.includes('10.0.0.8:8080'),
      30_000,
    )
    sub.kill('SIGINT')
  })

  it('a killed worker restarts and catches up', async () => {
    const pid = Number(/Kill a node \(kill (\d+)\)/.exec(devOut.join(''))?.[1])
    expect(pid).toBeGreaterThan(0)
    process.kill(pid, 'SIGKILL') // worker-2, a process this test started (through dev)
    const [, update, restart, check] = commands.slice(commands.findIndex((c) => c.startsWith('kill ')))
    const u = run(update!)
    expect(u.status, u.stderr).toBe(0)
    const agent = spawn(
      process.execPath,
      [...CLI, ...shellWords(adapt(restart!).slice('pnpm patina '.length))],
      { cwd: ROOT, stdio: 'ignore' },
    )
    started.push(agent)
    await waitFor(
      'restarted worker-2 has the write',
      () => {
        const r = run(check!)
        return r.status === 0 && /shop\.example\|5/.test(r.stdout)
      },
      60_000,
    )
  })
})

/** Split a command line into words (double and single quotes, as the README uses them). */
function shellWords(s: string): string[] {
  const out: string[] = []
  let cur = ''
  let quote: string | null = null
  let any = false
  for (const ch of s) {
    if (quote) {
      if (ch === quote) quote = null
      else cur += ch
    } else if (ch === '"' || ch === "'") {
      quote = ch
      any = true
    } else if (ch === ' ') {
      if (cur || any) out.push(cur)
      cur = ''
      any = false
    } else cur += ch
  }
  if (cur || any) out.push(cur)
  return out
}
