/**
 * The packages as a user gets them: `pnpm build`, `pnpm pack` of every package, then plain
 * `npm install <tarballs>` into empty folders (the npm registry as the only source of third-party
 * packages), and the installed binaries run as compiled JavaScript: a worker started with the
 * `patina` bin of `@patina/node`, an edge with the `patina-edge` bin of `@patina/edge`. A write
 * on the worker is served by the edge.
 *
 * The edge folder installs `@patina/api`, `@patina/client`, `@patina/template` and `@patina/edge`
 * only, and must hold no native module and no libp2p. The worker folder compiles `@patina/core`'s
 * SQLite deadline extension (plain C, seconds) and needs better-sqlite3 built for this Node:
 * npm runs its install script (allowed by `allowScripts` in the folder's package.json, the npm 11
 * way), which first asks `prebuild-install` for a binary and otherwise compiles with node-gyp
 * against the machine's Node headers. That compile takes minutes and is the very one
 * `pnpm install` already did for this workspace (same better-sqlite3 version, same Node), so the
 * test hands the workspace's binary to `prebuild-install` as a local prebuild
 * (`npm_config_better_sqlite3_local_prebuilds`) instead of compiling the same C again.
 * `PATINA_PACK_BUILD=1` leaves it out: npm then compiles, as on a machine without the workspace.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_SCHEMA } from '../helpers/cluster.js'
import { pickPort, ROOT, WorkerProcess } from '../helpers/process.js'
import { waitFor } from '../helpers/wait.js'

const PACKAGES = ['api', 'core', 'client', 'template', 'edge', 'node'] as const
const MINUTES = 60_000

const dir = mkdtempSync(join(tmpdir(), 'patina-install-'))
const packDir = join(dir, 'tarballs')
const edgeHome = join(dir, 'edge-host')
const workerHome = join(dir, 'worker-host')
const tarball: Record<string, string> = {}
const children: ChildProcess[] = []
let worker: WorkerProcess | undefined

/** Runs a command to completion; on failure, the error carries its output. */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    return execFileSync(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    })
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    throw new Error(
      `${cmd} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
    )
  }
}

/** An empty project folder whose package.json allows the install scripts the worker needs. */
function project(home: string): void {
  mkdirSync(home, { recursive: true })
  writeFileSync(
    join(home, 'package.json'),
    JSON.stringify({
      name: 'install-check',
      private: true,
      // @patina/core compiles its SQLite deadline extension (binding.gyp, `node-gyp rebuild`).
      allowScripts: { 'better-sqlite3': true, 'msgpackr-extract': true, '@patina/core': true },
    }),
  )
}

function npmInstall(home: string, pkgs: readonly string[], env: NodeJS.ProcessEnv = {}): void {
  const nodedir = existsSync('/usr/include/node/node.h') ? { npm_config_nodedir: '/usr' } : {}
  run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', ...pkgs.map((p) => tarball[p] as string)],
    home,
    {
      ...nodedir,
      ...env,
    },
  )
}

/**
 * A local prebuild of better-sqlite3 made from the workspace's own build (see the top comment),
 * named as prebuild-install looks for it; null when the workspace has no build to offer.
 */
function workspacePrebuild(): string | null {
  const pkgJson = createRequire(join(ROOT, 'packages/core/package.json')).resolve(
    'better-sqlite3/package.json',
  )
  const sqliteDir = dirname(pkgJson)
  const version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version
  if (!existsSync(join(sqliteDir, 'build/Release/better_sqlite3.node'))) return null
  const out = join(dir, 'prebuilds')
  mkdirSync(out, { recursive: true })
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`
  run('tar', ['czf', join(out, name), 'build/Release/better_sqlite3.node'], sqliteDir)
  return out
}

/** GETs `url` until `ok` holds (60 s, every 100 ms); the body of that answer. */
function waitForHttp(
  url: string,
  ok: (status: number, body: string) => boolean,
  what: string,
): Promise<string> {
  return waitFor(
    what,
    async () => {
      const r = await fetch(url, { signal: AbortSignal.timeout(5000) })
      const body = await r.text()
      if (!ok(r.status, body)) throw new Error(`last answer: ${body}`)
      return body
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  )
}

beforeAll(() => {
  run('pnpm', ['run', 'build'], ROOT)
  mkdirSync(packDir, { recursive: true })
  for (const p of PACKAGES) {
    run('pnpm', ['pack', '--pack-destination', packDir], join(ROOT, 'packages', p))
    const f = readdirSync(packDir).find((n) => n.startsWith(`patina-${p}-`))
    if (f === undefined) throw new Error(`pnpm pack of packages/${p} wrote no tarball`)
    tarball[p] = join(packDir, f)
  }
}, 15 * MINUTES)

afterAll(async () => {
  await worker?.signal('SIGKILL')
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

describe('installing the packed packages with npm', () => {
  it('the tarballs hold compiled JavaScript only, and no workspace: ranges', () => {
    for (const p of PACKAGES) {
      const files = run('tar', ['tzf', tarball[p] as string], dir)
        .split('\n')
        .filter(Boolean)
      expect(
        files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')),
        p,
      ).toEqual([])
      expect(files, p).toContain('package/dist/index.js')
      const pkg = run('tar', ['xzOf', tarball[p] as string, 'package/package.json'], dir)
      expect(pkg, p).not.toContain('workspace:')
    }
  })

  it(
    'an edge host installs api, client, template and edge: no native module, no libp2p',
    () => {
      project(edgeHome)
      npmInstall(edgeHome, ['api', 'client', 'template', 'edge'])
      const tree = run('npm', ['ls', '--all', '--parseable'], edgeHome)
      expect(tree).not.toMatch(/better-sqlite3|libp2p|node-gyp|fastify/)
      const natives = run('find', ['node_modules', '-name', '*.node'], edgeHome).trim()
      expect(natives).toBe('')
      expect(run('npx', ['--no-install', 'patina-edge', '--version'], edgeHome).trim()).toBe('0.1.0')
    },
    5 * MINUTES,
  )

  it(
    'a worker host installs node (with better-sqlite3 for this Node); a worker and an edge run from the installs and serve a write',
    async () => {
      project(workerHome)
      const prebuilds = process.env['PATINA_PACK_BUILD'] === '1' ? null : workspacePrebuild()
      npmInstall(workerHome, ['api', 'core', 'client', 'template', 'edge', 'node'], {
        ...(prebuilds !== null ? { npm_config_better_sqlite3_local_prebuilds: prebuilds } : {}),
      })
      const built = join(workerHome, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')
      expect(existsSync(built)).toBe(true)
      const extension = join(workerHome, 'node_modules/@patina/core/build/Release/patina_deadline.node')
      expect(existsSync(extension)).toBe(true)
      expect(run('npx', ['--no-install', 'patina', '--version'], workerHome).trim()).toMatch(/^\d+\.\d+\.\d+/)

      const schemaPath = join(workerHome, 'schema.sql')
      writeFileSync(schemaPath, TEST_SCHEMA)
      worker = new WorkerProcess({
        name: 'w0',
        dir: workerHome,
        apiPort: await pickPort(),
        gossipPort: await pickPort(),
        bootstrap: [],
        schemaPath,
        command: [join(workerHome, 'node_modules/.bin/patina')],
        cwd: workerHome,
      })
      await worker.start(2 * MINUTES)

      const edgePort = await pickPort()
      const edgeToml = join(edgeHome, 'edge.toml')
      writeFileSync(
        edgeToml,
        [
          `workers = ["${worker.apiUrl}"]`,
          `listen = "127.0.0.1:${edgePort}"`,
          `state_file = "${join(edgeHome, 'edge-state.json')}"`,
          'probe_interval_ms = 200',
          '[[queries]]',
          'name = "routes"',
          'sql = "SELECT host, app, backend FROM routes"',
          'key = ["host"]',
        ].join('\n'),
      )
      const edge = spawn(join(edgeHome, 'node_modules/.bin/patina-edge'), ['-c', edgeToml], {
        cwd: edgeHome,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      children.push(edge)
      const edgeOut: string[] = []
      edge.stdout?.on('data', (d: Buffer) => edgeOut.push(d.toString()))
      edge.stderr?.on('data', (d: Buffer) => edgeOut.push(d.toString()))
      const edgeExit = new Promise<number | null>((resolve) => edge.once('exit', (code) => resolve(code)))
      const edgeUrl = `http://127.0.0.1:${edgePort}`
      await waitForHttp(`${edgeUrl}/v1/health`, (s) => s === 200, 'the edge to sync').catch((err: Error) => {
        throw new Error(`${err.message}\nedge output:\n${edgeOut.join('')}`)
      })

      const res = await fetch(`${worker.apiUrl}/v1/transactions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([
          [
            'INSERT INTO routes (host, app, backend) VALUES (?, ?, ?)',
            ['shop.example', 'shop', '10.0.0.7:8080'],
          ],
        ]),
      })
      expect(res.status).toBe(200)
      const body = await waitForHttp(
        `${edgeUrl}/v1/lookup/routes?key=shop.example`,
        (s) => s === 200,
        'the row at the edge',
      )
      expect(JSON.parse(body)).toMatchObject({
        rows: [{ host: 'shop.example', app: 'shop', backend: '10.0.0.7:8080' }],
        stale: false,
      })

      // both run compiled JavaScript from the installs (no tsx, no TypeScript sources)
      for (const pid of [worker.pid, edge.pid]) {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        expect(cmdline).not.toContain('tsx')
      }
      expect(existsSync(join(workerHome, 'node_modules/@patina/node/src'))).toBe(false)

      edge.kill('SIGTERM')
      expect(await edgeExit).toBe(0)
      expect(JSON.parse(readFileSync(join(edgeHome, 'edge-state.json'), 'utf8'))).toMatchObject({
        format: 'patina-edge-state',
      })
      await worker.signal('SIGTERM')
      expect(await worker.exited).toBe(0)
    },
    20 * MINUTES,
  )
})
