/**
 * `patina template` driving a real nginx (issue 19): nginx's upstream is rendered from the
 * `routes` table of a worker process; requests through nginx reach the backend the table
 * names; a write on the worker re-points nginx (CMD: `nginx -s reload` with the test's config)
 * while a bounded stream of requests runs, and none of them fails. The same switch driven from
 * an edge (`patina-edge` with `[[templates]]`). Then the failures, each with a clear message
 * and the previous file untouched: a bad template, a query the server refuses, a failing CMD, a
 * DST in a folder that does not exist.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/cluster.js'
import { execOn } from '../helpers/edge.js'
import { get, requestStream, startBackend, startNginx, type Nginx } from '../helpers/nginx.js'
import {
  makeWorkers,
  pickPort,
  ROOT,
  runCli,
  spawnCli,
  type CliProcess,
  type WorkerProcess,
} from '../helpers/process.js'

export const UPSTREAMS_TEMPLATE = [
  '# rendered by patina template from the routes table',
  'upstream app {',
  '  <% for (const r of sql("SELECT backend FROM routes WHERE app = ?", ["web"])) { %>',
  '  server <%= r.backend %>;',
  '  <% } %>',
  '}',
  '',
].join('\n')

const dir = mkdtempSync(join(tmpdir(), 'patina-tpl-nginx-'))
const src = join(dir, 'upstreams.eta')
const dst = join(dir, 'upstreams.conf')
let worker: WorkerProcess
let nginx: Nginx | undefined
const backends: Array<Awaited<ReturnType<typeof startBackend>>> = []
const children: CliProcess[] = []

beforeAll(async () => {
  ;[worker] = (await makeWorkers(dir, 1)) as [WorkerProcess]
  await worker.start()
  backends.push(await startBackend('backend-a'), await startBackend('backend-b'))
  await execOn(worker.apiUrl, [
    ['INSERT INTO routes (host, app, backend) VALUES (?, ?, ?)', ['app.example', 'web', backends[0]!.addr]],
  ])
  writeFileSync(src, UPSTREAMS_TEMPLATE)
}, 120_000)

afterAll(async () => {
  for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL')
  await nginx?.stop()
  for (const b of backends) b.server.close()
  await worker?.signal('SIGTERM')
  rmSync(dir, { recursive: true, force: true })
})

describe('patina template drives nginx', () => {
  it('--once renders the upstream from the routes table; nginx sends requests to that backend', async () => {
    const r = await runCli(['template', '--once', '--worker', worker.apiUrl, `${src}:${dst}`])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`${dst}: written`)
    expect(readFileSync(dst, 'utf8')).toBe(
      `# rendered by patina template from the routes table\nupstream app {\n  server ${backends[0]!.addr};\n}\n`,
    )
    nginx = await startNginx(join(dir, 'nginx'), await pickPort(), dst)
    expect(await get(nginx.url)).toEqual({ status: 200, body: 'backend-a' })
  })

  it('a write on the worker re-points nginx, and no request sent during the switch fails', async () => {
    const ng = nginx!
    const statusPort = await pickPort()
    const tpl = spawnCli([
      'template',
      '--worker',
      worker.apiUrl,
      '--listen',
      `127.0.0.1:${statusPort}`,
      `${src}:${dst}:${ng.reloadCommand}`,
    ])
    children.push(tpl)
    const health = () => templateHealth(`http://127.0.0.1:${statusPort}/health`)
    // The first render finds the file as --once left it: unchanged, so no reload.
    await waitFor(
      'the first render',
      async () => Number((await health())?.templates[0]?.['renders'] ?? 0) >= 1,
      60_000,
    )
    expect((await health())?.templates[0]).toMatchObject({ writes: 0, commandsOk: 0, healthy: true })

    await switchBackend('patina template', ng, backends[1]!)
    expect((await health())?.templates[0]).toMatchObject({
      writes: 1,
      commandsOk: 1,
      errors: 0,
      healthy: true,
    })
    const metrics = await get(`http://127.0.0.1:${statusPort}/metrics`)
    expect(metrics.body).toContain(`patina_template_commands_total{template="${dst}",result="ok"} 1`)
    expect(ng.errorLog()).toMatch(/signal 1 \(SIGHUP\) received/)
    const logged = tpl.output
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; code?: number })
    expect(logged).toContainEqual(
      expect.objectContaining({
        code: 0,
        msg: `command ${JSON.stringify(ng.reloadCommand)} exited with status 0`,
      }),
    )
    tpl.child.kill('SIGINT')
    expect(await tpl.exit).toBe(0)
  })

  it('the same from an edge: patina-edge with [[templates]] renders the upstream and re-points nginx', async () => {
    const ng = nginx!
    // The table goes back to backend-a while nothing renders: the edge's first render writes it.
    await execOn(worker.apiUrl, [
      ['UPDATE routes SET backend = ? WHERE host = ?', [backends[0]!.addr, 'app.example']],
    ])
    const edgePort = await pickPort()
    const edgeToml = join(dir, 'edge.toml')
    writeFileSync(
      edgeToml,
      [
        `workers = ["${worker.apiUrl}"]`,
        `listen = "127.0.0.1:${edgePort}"`,
        'probe_interval_ms = 200',
        '[[templates]]',
        `src = "${src}"`,
        `dst = "${dst}"`,
        `cmd = "${ng.reloadCommand}"`,
        'name = "nginx-upstreams"',
      ].join('\n'),
    )
    const edge = spawnEdge(edgeToml)
    const health = () => templateHealth(`http://127.0.0.1:${edgePort}/v1/templates`)
    // During a reload, nginx's old workers still take some connections until they get QUIT:
    // wait for 20 answers in a row from backend-a, not for the first one.
    await waitFor(
      'the edge renders backend-a and reloads nginx',
      async () => {
        for (let i = 0; i < 20; i++)
          if ((await get(ng.url).catch(() => null))?.body !== 'backend-a') return false
        return true
      },
      60_000,
    )
    expect((await health())?.templates[0]).toMatchObject({
      name: 'nginx-upstreams',
      writes: 1,
      commandsOk: 1,
    })

    await switchBackend('patina-edge [[templates]]', ng, backends[1]!)
    expect((await health())?.templates[0]).toMatchObject({
      writes: 2,
      commandsOk: 2,
      errors: 0,
      healthy: true,
    })
    const metrics = await get(`http://127.0.0.1:${edgePort}/metrics`)
    expect(metrics.body).toContain(
      'patina_template_renders_total{template="nginx-upstreams",result="written"} 2',
    )
    const edgeHealth = JSON.parse((await get(`http://127.0.0.1:${edgePort}/v1/health`)).body) as {
      templates: { ok: boolean }
    }
    expect(edgeHealth.templates.ok).toBe(true)
    edge.child.kill('SIGTERM')
    expect(await edge.exit).toBe(0)
  })
})

/** GET a template health answer (`/health` of `patina template --listen`, `/v1/templates` of an edge). */
async function templateHealth(url: string) {
  const r = await get(url).catch(() => null)
  return r === null
    ? null
    : (JSON.parse(r.body) as { ok: boolean; templates: Array<Record<string, unknown>> })
}

/** `patina-edge -c <toml>` from its sources, as a child process of this test. */
function spawnEdge(toml: string): CliProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', join(ROOT, 'packages/edge/src/cli.ts'), '-c', toml],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const output: string[] = []
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()))
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()))
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const p = { child, output, exit }
  children.push(p)
  return p
}

/**
 * Points the route at `to` with a write on the worker while 4 loops send requests through
 * nginx (each on a fresh connection), until 200 requests were answered by `to` after the
 * switch (at most 5,000 requests, 30 s). Every request must succeed.
 */
async function switchBackend(label: string, ng: Nginx, to: Awaited<ReturnType<typeof startBackend>>) {
  const name = to === backends[1] ? 'backend-b' : 'backend-a'
  const before = (await get(ng.url)).body
  expect(before).not.toBe(name)
  let switchedAt: number | null = null
  let afterSwitch = 0
  const stream = requestStream(ng.url, {
    concurrency: 4,
    maxRequests: 5_000,
    until: () => afterSwitch >= 200,
  })
  const writtenAt = Date.now()
  await execOn(worker.apiUrl, [['UPDATE routes SET backend = ? WHERE host = ?', [to.addr, 'app.example']]])
  const watcher = (async () => {
    while (afterSwitch < 200 && Date.now() - writtenAt < 30_000) {
      const r = await get(ng.url).catch(() => null)
      if (r?.body === name) {
        switchedAt ??= Date.now()
        afterSwitch++
      }
    }
  })()
  const [{ bodies, failures }] = await Promise.all([stream, watcher])
  expect(switchedAt, `nginx never answered from ${name}`).not.toBeNull()
  console.log(
    `${label} → nginx: first answer from the new backend ${switchedAt! - writtenAt} ms after the write was acknowledged; ${bodies.length} requests during the switch, ${failures.length} failed`,
  )
  expect(failures).toEqual([])
  expect(bodies).toContain(before)
  expect(bodies.slice(-20)).toEqual(Array(20).fill(name))
  expect(readFileSync(dst, 'utf8')).toContain(`server ${to.addr};`)
}

describe('patina template failures keep the previous file and say what failed', () => {
  const out = join(dir, 'failures.conf')
  const once = (...spec: string[]) =>
    runCli(['template', '--once', '--worker', worker.apiUrl, '--timeout', '20', ...spec])
  beforeAll(() => writeFileSync(out, 'previous content\n'))

  it('a template with a syntax error', async () => {
    const bad = join(dir, 'bad.eta')
    writeFileSync(bad, 'upstream app {\n  <% for (const r of sql("SELECT backend FROM routes") { %>\n}\n')
    const r = await once(`${bad}:${out}`)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error: .*failures\.conf: template .*bad\.eta line 2: /)
    expect(readFileSync(out, 'utf8')).toBe('previous content\n')
  })

  it('a query the server refuses', async () => {
    const refused = join(dir, 'refused.eta')
    writeFileSync(refused, '<% for (const r of sql("SELECT * FROM no_such_table")) { %><%= r %><% } %>\n')
    const r = await once(`${refused}:${out}`)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      /line 1: query "SELECT \* FROM no_such_table" failed: .*HTTP 400: table "no_such_table" is not a table of the schema/,
    )
    expect(readFileSync(out, 'utf8')).toBe('previous content\n')
  })

  it('a CMD that fails', async () => {
    const r = await once(`${src}:${out}:echo reload refused >&2; exit 7`)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      /command "echo reload refused >&2; exit 7" exited with status 7: reload refused; the previous .*failures\.conf is back in place/,
    )
    expect(readFileSync(out, 'utf8')).toBe('previous content\n')
  })

  it('(and a CMD that succeeds: --once prints its exit status)', async () => {
    const okOut = join(dir, 'once-ok.conf')
    const r = await once(`${src}:${okOut}:test -s ${okOut}`)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe(`${okOut}: written; command "test -s ${okOut}" exited with status 0\n`)
  })

  it('a DST in a folder that does not exist', async () => {
    const r = await once(`${src}:${join(dir, 'missing-folder', 'up.conf')}`)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/its folder .*missing-folder does not exist/)
  })
})
