/** The CLI as a whole: help for every command, unknown options, and where it finds the API (config, flags, environment). */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import type { CliDeps } from '../../src/cli/context.js'
import { buildProgram } from '../../src/cli/program.js'
import { cliTestState, fakeApi, run } from './helpers.js'

const t = cliTestState()

function allCommandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.flatMap((c) => [[...prefix, c.name()], ...allCommandPaths(c, [...prefix, c.name()])])
}

describe('help', () => {
  it('every command and sub-command has --help', async () => {
    const program = buildProgram({} as CliDeps)
    const paths = allCommandPaths(program)
    expect(paths.map((p) => p.join(' '))).toEqual(
      expect.arrayContaining([
        'agent',
        'exec',
        'query',
        'subscribe',
        'cluster members',
        'backup',
        'restore',
        'reload',
        'edge',
        'dev',
        'sync status',
        'subs list',
        'log set',
      ]),
    )
    for (const p of [[], ...paths]) {
      const r = await run([...p, '--help'], { cwd: t.dir })
      expect(r.code, p.join(' ')).toBe(0)
      expect(r.stdout, p.join(' ')).toContain(`Usage: patina${p.length ? ' ' + p.join(' ') : ''}`)
    }
  })

  it('rejects unknown options and commands with exit code 1', async () => {
    const a = await run(['query', '--colums', 'SELECT 1'], { cwd: t.dir })
    expect(a.code).toBe(1)
    expect(a.stderr).toContain("unknown option '--colums'")
    const b = await run(['frobnicate'], { cwd: t.dir })
    expect(b.code).toBe(1)
    expect(b.stderr).toContain("unknown command 'frobnicate'")
    const c = await run(['query', '--format', 'xml', 'SELECT 1'], { cwd: t.dir })
    expect(c.code).toBe(1)
    expect(c.stderr).toContain('Allowed choices are plain, table, json')
  })
})

describe('API address and token', () => {
  it('uses the first api.addr of the config, unspecified address as loopback, and its write token', async () => {
    const cfg = join(t.dir, 'c.toml')
    writeFileSync(
      cfg,
      '[api]\naddr = ["[::]:8787", "127.0.0.1:9"]\n[api.authorization]\ntokens = [{ token = "reader-token", role = "read" }, { token = "writer-token", role = "write" }]\n',
    )
    const f = fakeApi()
    await run(['-c', cfg, 'exec', 'SELECT 1'], { cwd: t.dir, createApi: f.create })
    expect(f.calls.created).toEqual([{ url: 'http://[::1]:8787', token: 'writer-token' }])
  })

  it('--api-addr (host:port or URL), --token and PATINA_TOKEN override the config', async () => {
    const f = fakeApi()
    await run(['--api-addr', '0.0.0.0:7000', 'exec', 'SELECT 1'], {
      cwd: t.dir,
      createApi: f.create,
      env: { PATINA_TOKEN: 'env-token' },
    })
    await run(['--api-addr', 'http://10.1.2.3:8080/', '--token', 'flag-token', 'exec', 'SELECT 1'], {
      cwd: t.dir,
      createApi: f.create,
    })
    await run(['exec', 'SELECT 1'], {
      cwd: t.dir,
      createApi: f.create,
      env: { PATINA_API__ADDR: '127.0.0.1:7001' },
    })
    expect(f.calls.created).toEqual([
      { url: 'http://127.0.0.1:7000', token: 'env-token' },
      { url: 'http://10.1.2.3:8080', token: 'flag-token' },
      { url: 'http://127.0.0.1:7001' },
    ])
  })

  it('reads the config from PATINA_CONFIG', async () => {
    const cfg = join(t.dir, 'c.toml')
    writeFileSync(cfg, '[api]\naddr = "127.0.0.1:7002"\n')
    const f = fakeApi()
    await run(['exec', 'SELECT 1'], { cwd: t.dir, createApi: f.create, env: { PATINA_CONFIG: cfg } })
    expect(f.calls.created).toEqual([{ url: 'http://127.0.0.1:7002' }])
  })

  it('reports an invalid config with its documented message and exit code 1', async () => {
    const r = await run(['--set', 'gossip.cluster_id=70000', 'query', 'SELECT 1'], { cwd: t.dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      'error: gossip.cluster_id value 70000 is above maximum 65535 (from --set gossip.cluster_id=70000) [PATINA_ERR_CONFIG_INVALID]\n',
    )
    const cfg = join(t.dir, 'bad.toml')
    writeFileSync(cfg, '[api]\naddr = "localhost"\n')
    const r2 = await run(['-c', cfg, 'query', 'SELECT 1'], { cwd: t.dir })
    expect(r2.stderr).toBe(
      `error: api.addr value "localhost" is not a host:port address such as "127.0.0.1:8080" or "[::]:8080" (from config file ${cfg}) [PATINA_ERR_CONFIG_INVALID]\n`,
    )
  })
})
