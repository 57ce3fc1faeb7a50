import type { MembersResponse } from '@patina/api'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Command } from 'commander'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createAdminServer, type AdminServer } from '../../src/admin/index.js'
import type { CliDeps, StartAgent } from '../../src/cli/context.js'
import { buildProgram } from '../../src/cli/program.js'
import type { PatinaConfig } from '../../src/config/schema.js'
import { fakeApi, run } from './helpers.js'

let dir: string
let admin: AdminServer | undefined
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'patina-cli-'))
})
afterEach(async () => {
  await admin?.close()
  admin = undefined
  rmSync(dir, { recursive: true, force: true })
})

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
      const r = await run([...p, '--help'], { cwd: dir })
      expect(r.code, p.join(' ')).toBe(0)
      expect(r.stdout, p.join(' ')).toContain(`Usage: patina${p.length ? ' ' + p.join(' ') : ''}`)
    }
  })

  it('rejects unknown options and commands with exit code 1', async () => {
    const a = await run(['query', '--colums', 'SELECT 1'], { cwd: dir })
    expect(a.code).toBe(1)
    expect(a.stderr).toContain("unknown option '--colums'")
    const b = await run(['frobnicate'], { cwd: dir })
    expect(b.code).toBe(1)
    expect(b.stderr).toContain("unknown command 'frobnicate'")
    const c = await run(['query', '--format', 'xml', 'SELECT 1'], { cwd: dir })
    expect(c.code).toBe(1)
    expect(c.stderr).toContain('Allowed choices are plain, table, json')
  })
})

describe('exec', () => {
  it('binds --param as text like Corrosion, --param-json by its type, in command-line order', async () => {
    const f = fakeApi()
    const r = await run(
      [
        'exec',
        '--param',
        'some-id',
        '--param-json',
        '42',
        '--param',
        '42',
        '--param-json',
        'null',
        '--param',
        'null',
        '--param-json',
        '4.5',
        '--param-json',
        '[1,255]',
        '--param',
        '"7"',
        '--timer',
        'INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ],
      { cwd: dir, createApi: f.create },
    )
    expect(r.code).toBe(0)
    expect(f.calls.transactions).toEqual([
      [
        [
          'INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          ['some-id', 42, '42', null, 'null', 4.5, [1, 255], '"7"'],
        ],
      ],
    ])
    expect(r.stdout).toBe('Rows affected: 1\nRun Time: real 0.001\n')
    expect(f.calls.closed).toBe(1)
  })

  it('refuses --param-json values the client would change on the way, saying what to do', async () => {
    const f = fakeApi()
    const notJson = await run(['exec', '--param-json', 'abc', 'SELECT ?'], { cwd: dir, createApi: f.create })
    expect(notJson.code).toBe(1)
    expect(notJson.stderr).toMatch(/not JSON .*use --param for text/)
    const real = await run(['exec', '--param-json', '2.0', 'SELECT ?'], { cwd: dir, createApi: f.create })
    expect(real.code).toBe(1)
    expect(real.stderr).toMatch(/would be sent as the integer 2; .*CAST\(\? AS REAL\)/)
    const big = await run(['exec', '--param-json', '9007199254740993', 'SELECT ?'], {
      cwd: dir,
      createApi: f.create,
    })
    expect(big.code).toBe(1)
    expect(big.stderr).toMatch(/beyond ±2\^53/)
    expect(f.calls.transactions).toEqual([])
  })

  it('sends the bare SQL without params, and fails on an error result', async () => {
    const f = fakeApi({
      exec: () => ({ results: [{ error: 'no such table: nope' }], time: 0, version: null, actor_id: 'a' }),
    })
    const r = await run(['exec', 'DELETE FROM nope'], { cwd: dir, createApi: f.create })
    expect(f.calls.transactions).toEqual([['DELETE FROM nope']])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('error: no such table: nope\n')
  })
})

describe('query', () => {
  const events = () => [
    { columns: ['id', 'title', 'done', 'data'] },
    {
      row: [1, ['some-id', 'Write docs', null, [1, 255]]] as [number, (string | number | null | number[])[]],
    },
    { row: [2, ['other', 'Ship it', 1, null]] as [number, (string | number | null | number[])[]] },
    { eoq: { time: 0.0004 } },
  ]

  it('prints rows like Corrosion: cells joined by |, NULL empty', async () => {
    const f = fakeApi({ query: events })
    const r = await run(
      ['query', '--columns', '--timer', '--param', '1', 'SELECT * FROM todos WHERE x > ?'],
      {
        cwd: dir,
        createApi: f.create,
      },
    )
    expect(r.code).toBe(0)
    expect(f.calls.queries).toEqual([['SELECT * FROM todos WHERE x > ?', ['1']]])
    expect(r.stdout).toBe(
      "id|title|done|data\nsome-id|Write docs||x'01ff'\nother|Ship it|1|\ntime: 0.0004s\n",
    )
  })

  it('prints an aligned table', async () => {
    const r = await run(['query', '--format', 'table', 'SELECT * FROM todos'], {
      cwd: dir,
      createApi: fakeApi({ query: events }).create,
    })
    expect(r.stdout).toBe(
      [
        'id      | title      | done | data',
        '--------+------------+------+--------',
        "some-id | Write docs | NULL | x'01ff'",
        'other   | Ship it    | 1    | NULL',
        '(2 rows)',
        '',
      ].join('\n'),
    )
  })

  it('prints one JSON object per row', async () => {
    const r = await run(['query', '--format', 'json', 'SELECT * FROM todos'], {
      cwd: dir,
      createApi: fakeApi({ query: events }).create,
    })
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([
      { id: 'some-id', title: 'Write docs', done: null, data: [1, 255] },
      { id: 'other', title: 'Ship it', done: 1, data: null },
    ])
  })

  it('fails with the server error event', async () => {
    const r = await run(['query', 'SELECT nope'], {
      cwd: dir,
      createApi: fakeApi({ query: () => [{ error: 'no such column: nope' }] }).create,
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('error: no such column: nope\n')
  })
})

describe('API address and token', () => {
  it('uses the first api.addr of the config, unspecified address as loopback, and its write token', async () => {
    const cfg = join(dir, 'c.toml')
    writeFileSync(
      cfg,
      '[api]\naddr = ["[::]:8787", "127.0.0.1:9"]\n[api.authorization]\ntokens = [{ token = "reader-token", role = "read" }, { token = "writer-token", role = "write" }]\n',
    )
    const f = fakeApi()
    await run(['-c', cfg, 'exec', 'SELECT 1'], { cwd: dir, createApi: f.create })
    expect(f.calls.created).toEqual([{ url: 'http://[::1]:8787', token: 'writer-token' }])
  })

  it('--api-addr (host:port or URL), --token and PATINA_TOKEN override the config', async () => {
    const f = fakeApi()
    await run(['--api-addr', '0.0.0.0:7000', 'exec', 'SELECT 1'], {
      cwd: dir,
      createApi: f.create,
      env: { PATINA_TOKEN: 'env-token' },
    })
    await run(['--api-addr', 'http://10.1.2.3:8080/', '--token', 'flag-token', 'exec', 'SELECT 1'], {
      cwd: dir,
      createApi: f.create,
    })
    await run(['exec', 'SELECT 1'], {
      cwd: dir,
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
    const cfg = join(dir, 'c.toml')
    writeFileSync(cfg, '[api]\naddr = "127.0.0.1:7002"\n')
    const f = fakeApi()
    await run(['exec', 'SELECT 1'], { cwd: dir, createApi: f.create, env: { PATINA_CONFIG: cfg } })
    expect(f.calls.created).toEqual([{ url: 'http://127.0.0.1:7002' }])
  })

  it('reports an invalid config with its documented message and exit code 1', async () => {
    const r = await run(['--set', 'gossip.cluster_id=70000', 'query', 'SELECT 1'], { cwd: dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      'error: gossip.cluster_id value 70000 is above maximum 65535 (from --set gossip.cluster_id=70000) [PATINA_ERR_CONFIG_INVALID]\n',
    )
    const cfg = join(dir, 'bad.toml')
    writeFileSync(cfg, '[api]\naddr = "localhost"\n')
    const r2 = await run(['-c', cfg, 'query', 'SELECT 1'], { cwd: dir })
    expect(r2.stderr).toBe(
      `error: api.addr value "localhost" is not a host:port address such as "127.0.0.1:8080" or "[::]:8080" (from config file ${cfg}) [PATINA_ERR_CONFIG_INVALID]\n`,
    )
  })
})

describe('cluster members', () => {
  it('prints a table of members, or the raw JSON', async () => {
    const members = {
      members: [
        {
          actor_id: 'a1',
          peer_id: 'p1',
          gossip_addrs: ['/ip4/127.0.0.1/tcp/1'],
          api_addr: '127.0.0.1:8080',
          region: 'ams',
          role: 'worker' as const,
          incarnation: 0,
          state: 'alive' as const,
          rtt_ms: null,
          self: true,
        },
        {
          actor_id: 'a2',
          peer_id: 'p2',
          gossip_addrs: ['/ip4/127.0.0.1/tcp/2'],
          api_addr: null,
          region: 'iad',
          role: 'worker' as const,
          incarnation: 3,
          state: 'suspect' as const,
          rtt_ms: 1.234,
          self: false,
        },
      ],
    }
    const f = fakeApi({ members: () => members })
    const r = await run(['cluster', 'members'], { cwd: dir, createApi: f.create })
    expect(r.code).toBe(0)
    const lines = r.stdout.split('\n')
    expect(lines[0]).toMatch(/^actor_id \| state +\| region \| api_addr +\| gossip_addrs +\| rtt_ms \| self$/)
    expect(lines[2]).toMatch(
      /^a1 +\| alive +\| ams +\| 127\.0\.0\.1:8080 \| \/ip4\/127\.0\.0\.1\/tcp\/1 \| NULL +\| \*$/,
    )
    expect(lines[3]).toMatch(/^a2 +\| suspect \| iad +\| NULL +\| \/ip4\/127\.0\.0\.1\/tcp\/2 \| 1\.2$/)
    expect(lines[4]).toBe('(2 members)')
    const j = await run(['cluster', 'members', '--json'], { cwd: dir, createApi: f.create })
    expect(JSON.parse(j.stdout)).toEqual(members)
  })

  it('says how current the node is, and warns when it is isolated', async () => {
    const self = {
      actor_id: 'a1',
      peer_id: 'p1',
      gossip_addrs: [],
      api_addr: null,
      region: 'ams',
      role: 'worker' as const,
      incarnation: 0,
      state: 'alive' as const,
      rtt_ms: null,
      self: true,
    }
    let answer: MembersResponse = {
      members: [self],
      isolated: false,
      last_contact_ms: 250,
      reachable_members: 1,
    }
    const f = fakeApi({ members: () => answer })
    let r = await run(['cluster', 'members'], { cwd: dir, createApi: f.create })
    expect(r.stdout.split('\n').at(-2)).toBe(
      '1 other member reachable; last heard from another member 250 ms ago',
    )
    answer = { members: [self], isolated: true, last_contact_ms: 42_100, reachable_members: 0 }
    r = await run(['cluster', 'members'], { cwd: dir, createApi: f.create })
    expect(r.code).toBe(0)
    expect(r.stdout.split('\n').at(-2)).toBe(
      'WARNING: this node is isolated: no other member is reachable (last heard from another member 42.1 s ago); its writes stay local and its data may be stale until it reconnects',
    )
    answer = { members: [self], isolated: true, last_contact_ms: null, reachable_members: 0 }
    r = await run(['cluster', 'members'], { cwd: dir, createApi: f.create })
    expect(r.stdout).toContain('(never heard from another member)')
  })
})

describe('admin commands', () => {
  it('reload, sync status, subs list and log set go through the admin socket', async () => {
    const seen: string[] = []
    const path = join(dir, 'admin.sock')
    admin = await createAdminServer(
      {
        reload: () => (seen.push('reload'), { tablesCreated: ['routes'] }),
        members: () => [],
        syncStatus: () => (seen.push('sync'), { gaps: 0 }),
        subsList: () => (seen.push('subs'), [{ id: 's1' }]),
        logLevel: (level) => (seen.push(`log ${level}`), { level }),
        backup: () => null,
      },
      path,
    )
    const r1 = await run(['--admin-path', path, 'reload'], { cwd: dir })
    expect(r1.code).toBe(0)
    expect(JSON.parse(r1.stdout)).toEqual({ tablesCreated: ['routes'] })
    const r2 = await run(['--admin-path', path, 'log', 'set', 'debug'], { cwd: dir })
    expect(JSON.parse(r2.stdout)).toEqual({ level: 'debug' })
    await run(['--admin-path', path, 'sync', 'status'], { cwd: dir })
    const r4 = await run(['--admin-path', path, 'subs', 'list'], { cwd: dir })
    expect(JSON.parse(r4.stdout)).toEqual([{ id: 's1' }])
    expect(seen).toEqual(['reload', 'log debug', 'sync', 'subs'])
  })

  it('says when no agent runs', async () => {
    const path = join(dir, 'none.sock')
    const r = await run(['--admin-path', path, 'reload'], { cwd: dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      `error: no agent answers on the admin socket ${path} (ENOENT); is the agent running? [PATINA_ERR_CLOSED]\n`,
    )
  })
})

describe('agent and edge', () => {
  it('agent validates the config, starts, and stops on shutdown', async () => {
    const started: PatinaConfig[] = []
    let stopped = 0
    const startAgent: StartAgent = async (config) => {
      started.push(config)
      return {
        apiUrl: 'http://127.0.0.1:1',
        stop: async () => {
          stopped++
        },
      }
    }
    const ctl = new AbortController()
    ctl.abort('SIGTERM')
    const r = await run(['--db-path', join(dir, 'x.db'), '--set', 'log.level=silent', 'agent'], {
      cwd: dir,
      startAgent,
      shutdown: ctl.signal,
    })
    expect(r.code).toBe(0)
    expect(started).toHaveLength(1)
    expect(started[0]?.db.path).toBe(join(dir, 'x.db'))
    expect(Object.isFrozen(started[0])).toBe(true)
    expect(stopped).toBe(1)
  })

  it('agent refuses an invalid config before starting', async () => {
    let calls = 0
    const r = await run(['--set', 'log.format=xml', 'agent'], {
      cwd: dir,
      startAgent: async () => {
        calls++
        return { apiUrl: '', stop: async () => {} }
      },
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('log.format value "xml" is not one of "json", "pretty", "plaintext"')
    expect(calls).toBe(0)
  })

  it('edge runs the edge daemon with the -c path until shutdown', async () => {
    const got: string[] = []
    let stopped = 0
    const ctl = new AbortController()
    const r = await run(['-c', 'edge.toml', 'edge'], {
      cwd: dir,
      shutdown: ctl.signal,
      stdout: { write: () => true },
      runEdge: async (p) => {
        got.push(p)
        setImmediate(() => ctl.abort('SIGTERM'))
        return {
          stop: async () => {
            stopped++
          },
        }
      },
    })
    expect(r.code).toBe(0)
    expect(got).toEqual(['edge.toml'])
    expect(stopped).toBe(1)
  })

  it('edge needs a config file', async () => {
    const r = await run(['edge'], { cwd: dir, runEdge: async () => ({ stop: async () => {} }) })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('patina edge needs its config file: patina -c edge.toml edge')
  })
})

describe('restore refusals', () => {
  it('refuses while an agent answers, and refuses a file that is not SQLite', async () => {
    const path = join(dir, 'admin.sock')
    const backup = join(dir, 'backup.db')
    writeFileSync(backup, 'not sqlite')
    admin = await createAdminServer(
      {
        reload: () => null,
        members: () => null,
        syncStatus: () => null,
        subsList: () => null,
        logLevel: () => null,
        backup: () => null,
      },
      path,
    )
    const r = await run(['--admin-path', path, '--db-path', join(dir, 'db', 'state.db'), 'restore', backup], {
      cwd: dir,
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      `error: an agent is running (it answers on ${path}); stop it before restoring [PATINA_ERR_BACKUP]\n`,
    )
    await admin.close()
    admin = undefined
    const r2 = await run(
      ['--admin-path', path, '--db-path', join(dir, 'db', 'state.db'), 'restore', backup],
      { cwd: dir },
    )
    expect(r2.stderr).toBe(`error: backup ${backup} is not a SQLite database [PATINA_ERR_BACKUP]\n`)
    expect(existsSync(join(dir, 'db', 'state.db'))).toBe(false)
  })

  it('backup goes through the running agent when it answers', async () => {
    const path = join(dir, 'admin.sock')
    const asked: string[] = []
    admin = await createAdminServer(
      {
        reload: () => null,
        members: () => null,
        syncStatus: () => null,
        subsList: () => null,
        logLevel: () => null,
        backup: (p) => {
          asked.push(p)
          writeFileSync(p, 'SQLite format 3\0copy')
          return { path: p }
        },
      },
      path,
    )
    const r = await run(['--admin-path', path, 'backup', 'out/b.db'], { cwd: dir })
    expect(r.code).toBe(0)
    expect(asked).toEqual([join(dir, 'out/b.db')])
    expect(r.stdout).toBe(`backed up to ${join(dir, 'out/b.db')} (20 bytes)\n`)
    expect(readFileSync(join(dir, 'out/b.db'), 'latin1')).toBe('SQLite format 3\0copy')
    const again = await run(['--admin-path', path, 'backup', 'out/b.db'], { cwd: dir })
    expect(again.stderr).toContain('already exists')
  })
})
