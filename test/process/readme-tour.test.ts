/**
 * Runs the README's tour, command by command, against `patina dev`: the commands are read
 * from the README (between the tour markers), so the README cannot drift from what works.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/cluster.js'
import { CLI, ROOT } from '../helpers/process.js'
import { freeDevBase, runLine, sectionCommands, spawnLine } from '../helpers/readme.js'

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const commands = sectionCommands(readme, '<!-- tour:start -->', '<!-- tour:end -->')

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

  const run = (line: string) => runLine(adapt(line))

  beforeAll(async () => {
    expect(commands.length).toBeGreaterThanOrEqual(10)
    base = await freeDevBase()
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
    const { child: sub, output: subOut } = spawnLine(adapt(subLine))
    started.push(sub)
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
    started.push(spawnLine(adapt(restart!)).child)
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
