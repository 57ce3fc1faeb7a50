/**
 * deploy/compose.yaml and the "Run a cluster in Docker" section of docs/docker.md: the
 * Compose file validates, and every command the section shows runs, in order, with the output
 * its `# →` lines promise. Published ports are moved to free ones and the Compose project gets
 * its own name, so that a cluster a developer runs is left alone.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { freePort } from '../helpers/process.js'
import { ROOT, dockerSuite, removeLabelled, run, sleep } from './helpers.js'

const PROJECT = `patina-doc-${process.pid}-${randomBytes(3).toString('hex')}`
const DOC = join(ROOT, 'docs/docker.md')
const SECTION = '## Run a cluster in Docker'
/** Doc port → environment variable of compose.yaml that moves it. */
const PORTS: Record<number, string> = {
  8081: 'PATINA_PORT_1',
  8082: 'PATINA_PORT_2',
  8083: 'PATINA_PORT_3',
  8900: 'PATINA_EDGE_PORT',
}

interface DocCommand {
  command: string
  /** Text the output must contain (`# →` lines after the command), if any. */
  expect: string[]
  line: number
}

/**
 * The commands of the ```sh blocks of one section of a Markdown document: `\` continues a
 * command on the next line, `# → text` lines attach an expected output to the command before
 * them, other `#` lines are comments. ```console blocks are not run.
 */
function docCommands(markdown: string, heading: string): DocCommand[] {
  const lines = markdown.split('\n')
  const start = lines.findIndex((l) => l.trim() === heading)
  if (start < 0) throw new Error(`no section "${heading}"`)
  const out: DocCommand[] = []
  let inSh = false
  let pending: DocCommand | undefined
  for (let i = start + 1; i < lines.length; i++) {
    const l = lines[i]!
    if (!inSh && /^## /.test(l)) break
    if (l.startsWith('```')) {
      inSh = !inSh && l.trim() === '```sh'
      continue
    }
    if (!inSh) continue
    const t = l.trim()
    if (t === '') continue
    const exp = /^# → (.+)$/.exec(t)
    if (exp) {
      const last = out.at(-1)
      if (!last) throw new Error(`line ${i + 1}: "# →" before any command`)
      last.expect.push(exp[1]!)
      continue
    }
    if (t.startsWith('#')) continue
    if (pending) {
      pending.command += '\n' + l
    } else {
      pending = { command: l, expect: [], line: i + 1 }
    }
    if (!t.endsWith('\\')) {
      out.push(pending)
      pending = undefined
    }
  }
  return out
}

async function compose(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000) {
  return run('bash', ['deploy/compose.sh', ...args], { env, timeoutMs })
}

let env: NodeJS.ProcessEnv = {}
const portMap = new Map<number, number>()

/** Tests that need Docker call `ready()` first: a failed setup fails them, never skips them. */
const { ready } = dockerSuite({
  setupTimeoutMs: 60_000,
  teardownTimeoutMs: 180_000,
  async setup() {
    const probe = await run('bash', ['deploy/compose.sh', 'version'], { timeoutMs: 30_000 }).catch(
      (err: unknown) => err as Error,
    )
    if (probe instanceof Error)
      throw new Error(
        `Docker Compose is required (docker compose or docker-compose); on Debian: apt-get install docker-compose. ${probe.message}`,
      )
    for (const port of Object.keys(PORTS).map(Number)) portMap.set(port, await freePort())
    env = { ...process.env, COMPOSE_PROJECT_NAME: PROJECT }
    delete env['PATINA_IMAGE']
    for (const [port, name] of Object.entries(PORTS)) env[name] = String(portMap.get(Number(port)))
  },
  async teardown(suite) {
    if (suite.failed) return
    await compose(['down', '-v', '--remove-orphans'], env).catch(() => undefined)
    await removeLabelled('com.docker.compose.project', PROJECT)
  },
})

describe('docCommands', () => {
  it('joins continued lines, attaches "# →" lines, skips comments, console blocks and other sections', () => {
    const md = [
      '## Other',
      '```sh',
      'not-this',
      '```',
      '## Run',
      'text',
      '```sh',
      '# a comment',
      'one \\',
      '  two',
      '# → out 1',
      '# → out 2',
      'three',
      '```',
      '```console',
      'shown only',
      '```',
      '```sh',
      'four',
      '```',
      '## Next',
      '```sh',
      'not-this-either',
      '```',
    ].join('\n')
    expect(docCommands(md, '## Run')).toEqual([
      { command: 'one \\\n  two', expect: ['out 1', 'out 2'], line: 9 },
      { command: 'three', expect: [], line: 13 },
      { command: 'four', expect: [], line: 19 },
    ])
    expect(() => docCommands(md, '## Missing')).toThrow('no section')
  })
})

describe('deploy/compose.yaml', () => {
  it('is valid: three workers and an edge, APIs published on 127.0.0.1 only, a volume each', async () => {
    ready()
    const services = (await compose(['config', '--services'], env)).stdout.trim().split('\n').sort()
    expect(services).toEqual(['edge', 'patina-1', 'patina-2', 'patina-3'])
    const volumes = (await compose(['config', '--volumes'], env)).stdout.trim().split('\n').sort()
    expect(volumes).toEqual(['edge-data', 'patina-1-data', 'patina-2-data', 'patina-3-data'])
    const config = (await compose(['config'], env)).stdout
    // Compose v1 prints ports as "127.0.0.1:8081:8080/tcp", v2 in the long form with host_ip.
    const short = [...config.matchAll(/^\s*- (?:"|')?([\d.]+):(\d+):(\d+)\/tcp/gm)].map((m) => m[1])
    const long = [...config.matchAll(/^\s*host_ip: (\S+)/gm)].map((m) => m[1])
    const hosts = short.length > 0 ? short : long
    expect(hosts).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1'])
    for (const port of portMap.values()) expect(config).toContain(String(port))
  })
})

describe('docs/docker.md "Run a cluster in Docker"', () => {
  const commands = docCommands(readFileSync(DOC, 'utf8'), SECTION)

  it('shows build, compose up, writes and reads, a killed worker and the cleanup', () => {
    const all = commands.map((c) => c.command).join('\n')
    for (const part of [
      'deploy/build-image.sh',
      'deploy/compose.sh up -d',
      'deploy/compose.sh wait',
      '/v1/transactions',
      '/v1/queries',
      '/v1/lookup/',
      'deploy/compose.sh kill patina-1',
      'deploy/compose.sh start patina-1',
      'deploy/compose.sh down -v',
    ])
      expect(all).toContain(part)
    expect(commands.filter((c) => c.expect.length > 0).length).toBeGreaterThanOrEqual(6)
  })

  it('runs every command with the output the doc shows', async () => {
    ready()
    for (const c of commands) {
      let command = c.command
      for (const [from, to] of portMap) command = command.replaceAll(`127.0.0.1:${from}`, `127.0.0.1:${to}`)
      const timeoutMs = command.includes('build-image.sh') ? 600_000 : 180_000
      if (c.expect.length === 0) {
        await run('bash', ['-o', 'pipefail', '-c', command], { env, timeoutMs })
        continue
      }
      // Reads after a write on another node, or through the edge, may need a moment.
      const deadline = Date.now() + 90_000
      let last = ''
      for (;;) {
        try {
          const r = await run('bash', ['-o', 'pipefail', '-c', command], { env, timeoutMs })
          last = r.stdout
          if (c.expect.every((e) => r.stdout.includes(e))) break
        } catch (err) {
          last = String(err)
        }
        if (Date.now() > deadline)
          throw new Error(
            `docs/docker.md line ${c.line}: ${command}\nexpected output containing ${JSON.stringify(c.expect)}\ngot: ${last.slice(-2000)}`,
          )
        await sleep(1_000)
      }
    }
    // The last command removed everything.
    const left = await run('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`])
    expect(left.stdout.trim()).toBe('')
  })
})
