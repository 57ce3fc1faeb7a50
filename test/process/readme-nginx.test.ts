/**
 * Runs the README's "Drive nginx from Patina" section, command by command, against `patina dev`:
 * the commands are read from the README (between the nginx markers), so the README cannot drift
 * from what works. Paths and ports are pointed at this test's folder and free ports; every
 * process the commands start (backends, nginx, the template) is stopped by its pid.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/cluster.js'
import { get } from '../helpers/nginx.js'
import { CLI, pickPort, ROOT } from '../helpers/process.js'
import { freeDevBase, runLine, sectionCommands, spawnLine } from '../helpers/readme.js'

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const commands = sectionCommands(readme, '<!-- nginx:start -->', '<!-- nginx:end -->')

describe('README: Drive nginx from Patina', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patina-readme-nginx-'))
  const devDir = join(dir, '.patina-dev')
  const work = join(dir, 'nginx')
  let base = 0
  const ports = { nginx: 0, a: 0, b: 0 }
  let dev: ChildProcess | undefined
  const devOut: string[] = []
  const background: ChildProcess[] = []

  const adapt = (line: string) =>
    line
      .replaceAll('.patina-dev/', `${devDir}/`)
      .replaceAll('/tmp/patina-nginx', work)
      .replace(/\b8400\b/g, String(ports.nginx))
      .replace(/\b9001\b/g, String(ports.a))
      .replace(/\b9002\b/g, String(ports.b))

  /** A README line run with this test's paths and ports; a trailing ` &` runs it in the background. */
  const run = (line: string) => {
    const cmd = adapt(line)
    if (!cmd.endsWith(' &')) return { ...runLine(cmd), out: [] as string[] }
    const { child, output } = spawnLine(cmd)
    background.push(child)
    return { status: 0, stdout: '', stderr: '', out: output }
  }
  const nginxPid = (): number | null => {
    const f = join(work, 'nginx.pid')
    return existsSync(f) ? Number(readFileSync(f, 'utf8').trim()) : null
  }
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }

  beforeAll(async () => {
    expect(commands.length).toBeGreaterThanOrEqual(10)
    // nginx's workers run as an unprivileged user when nginx runs as root: let them in.
    chmodSync(dir, 0o755)
    base = await freeDevBase()
    ports.nginx = await pickPort()
    ports.a = await pickPort()
    ports.b = await pickPort()
    dev = spawn(process.execPath, [...CLI, 'dev', '--base-port', String(base), '--dir', devDir], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    dev.stdout?.on('data', (d: Buffer) => devOut.push(d.toString()))
    dev.stderr?.on('data', (d: Buffer) => devOut.push(d.toString()))
    await waitFor('the dev cluster', () => devOut.join('').includes('Patina dev cluster is up'), 120_000)
  }, 180_000)

  afterAll(async () => {
    const pid = nginxPid()
    if (pid !== null && alive(pid)) process.kill(pid, 'SIGQUIT') // the nginx the README started
    for (const c of background) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM')
    if (dev && dev.exitCode === null) {
      dev.kill('SIGINT')
      await new Promise((r) => dev!.once('exit', r))
    }
    rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  it('renders the upstream, starts nginx, and re-points it after a write on another worker', async () => {
    const step = (i: number) => {
      const r = run(commands[i]!)
      expect(r.status, `${commands[i]}\n${r.stderr}`).toBe(0)
      return r
    }
    // mkdir, two backends (background), the template, the nginx config
    const firstBlock = commands.findIndex((c) => c.startsWith('bin/patina'))
    for (let i = 0; i < firstBlock; i++) step(i)
    // both start in the background: wait for each (b answering says nothing about a)
    const answers = async (port: number): Promise<string | null> =>
      (await get(`http://127.0.0.1:${port}/`).catch(() => null))?.body ?? null
    await waitFor(
      'the backends',
      async () => (await answers(ports.a)) === 'backend-a\n' && (await answers(ports.b)) === 'backend-b\n',
    )

    const rest = commands.slice(firstBlock)
    const [insert, once, startNginx, curl1, template, update, curl2, quit] = rest
    expect(rest).toHaveLength(8)
    step(commands.indexOf(insert!))
    expect(step(commands.indexOf(once!)).stdout).toContain('upstreams.conf: written')
    expect(readFileSync(join(work, 'upstreams.conf'), 'utf8')).toBe(
      `upstream web {\n  server 127.0.0.1:${ports.a};\n}\n`,
    )
    step(commands.indexOf(startNginx!))
    expect(step(commands.indexOf(curl1!)).stdout).toBe('backend-a\n')

    const tpl = run(template!)
    step(commands.indexOf(update!))
    const changedAt = Date.now()
    await waitFor('nginx to follow the write', () => run(curl2!).stdout === 'backend-b\n', 30_000).catch(
      (e: Error) => {
        throw new Error(`${e.message}\ntemplate output:\n${tpl.out.join('')}`)
      },
    )
    console.log(`README nginx: re-pointed ${Date.now() - changedAt} ms after the write returned`)
    const pid = nginxPid()
    expect(pid).not.toBeNull()
    step(commands.indexOf(quit!))
    await waitFor('nginx to quit', () => !alive(pid!), 20_000)
  })
})
