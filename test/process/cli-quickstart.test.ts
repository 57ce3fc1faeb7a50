/**
 * Corrosion's quick start (doc/quick-start.md), with Patina: two agents started by the real
 * `patina` binary from Corrosion's two configs (paths and ports adapted to a temp dir), `exec`
 * on node A, `query` on node B sees the row; then the other way round.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { probeIpv6Loopback } from '../helpers/net.js'
import { freePort, runCli, spawnCli, type CliProcess } from '../helpers/process.js'
import { waitFor } from '../helpers/wait.js'

// Corrosion's schema, unchanged (NULL key values are refused when written).
const SCHEMA = `-- /etc/corrosion/schema/todo.sql

CREATE TABLE todos (
    id BLOB PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    completed_at INTEGER
);
`

const ipv6 = await probeIpv6Loopback()
const noIpv6 = ipv6.available ? undefined : `${ipv6.reason}; Corrosion's quick start gossips over [::1]`
if (noIpv6 !== undefined) console.warn(`skipping Corrosion's quick start: ${noIpv6}`)

const start = spawnCli
const cli = runCli

/** Waits for `fn` (30 s, every 250 ms), failing at once when an agent has exited. */
const until = <T>(what: string, fn: () => Promise<T | undefined>): Promise<T> =>
  waitFor(what, fn, {
    timeoutMs: 30_000,
    intervalMs: 250,
    stopIf: () => {
      const dead = agents.find((a) => a.child.exitCode !== null)
      return dead && `an agent exited (code ${dead.child.exitCode}):\n${dead.output.join('')}`
    },
  })

let dir: string | undefined
let cfgA: string
let cfgB: string
const agents: CliProcess[] = []

beforeAll(async () => {
  if (noIpv6 !== undefined) return
  dir = mkdtempSync(join(tmpdir(), 'patina-qs-'))
  const [gossipA, gossipB, apiA, apiB] = [
    await freePort('::1'),
    await freePort('::1'),
    await freePort('127.0.0.1'),
    await freePort('127.0.0.1'),
  ]
  for (const n of ['corrosion', 'corrosion-b']) mkdirSync(join(dir, n, 'schema'), { recursive: true })
  writeFileSync(join(dir, 'corrosion/schema/todo.sql'), SCHEMA)
  writeFileSync(join(dir, 'corrosion-b/schema/todo.sql'), SCHEMA)
  cfgA = join(dir, 'corrosion/config.toml')
  cfgB = join(dir, 'corrosion-b/config.toml')
  writeFileSync(
    cfgA,
    `# /etc/corrosion/config.toml

[db]
path = "${dir}/corrosion/state.db"
schema_paths = ["${dir}/corrosion/schema"]

[gossip]
addr = "[::]:${gossipA}"
plaintext = true

[api]
addr = "127.0.0.1:${apiA}"

[admin]
path = "${dir}/corrosion/admin.sock"
`,
  )
  writeFileSync(
    cfgB,
    `# /etc/corrosion-b/config.toml

[db]
path = "${dir}/corrosion-b/state.db"
schema_paths = ["${dir}/corrosion-b/schema"]

[gossip]
addr = "[::]:${gossipB}"
bootstrap = ["[::1]:${gossipA}"] # bootstrap the node's cluster discovery w/ node A
plaintext = true

[api]
addr = "127.0.0.1:${apiB}"

[admin]
path = "${dir}/corrosion-b/admin.sock"
`,
  )
  agents.push(start(['-c', cfgA, 'agent']), start(['-c', cfgB, 'agent']))
  for (const cfg of [cfgA, cfgB]) {
    await until(`agent ${cfg} to answer`, async () => {
      const r = await cli(['-c', cfg, 'query', 'SELECT count(*) FROM todos'])
      return r.code === 0 ? true : undefined
    })
  }
}, 120_000)

afterAll(async () => {
  for (const a of agents) if (a.child.exitCode === null) a.child.kill('SIGKILL')
  await Promise.all(agents.map((a) => a.exit))
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

describe("Corrosion's quick start", () => {
  it('runs exactly when the loopback interface has ::1', () => {
    const loopbackHasIpv6 = Object.values(networkInterfaces())
      .flat()
      .some((a) => a?.internal === true && a.family === 'IPv6' && a.address === '::1')
    expect(ipv6.available).toBe(loopbackHasIpv6)
  })

  it('exec on node A, query on node B sees the row', async (ctx) => {
    ctx.skip(noIpv6 !== undefined, noIpv6)
    const exec = await cli([
      '-c',
      cfgA,
      'exec',
      '--param',
      'some-id',
      '--param',
      'Write some Corrosion docs!',
      'INSERT INTO todos (id, title) VALUES (?, ?)',
    ])
    expect(exec.stderr).toBe('')
    expect(exec.stdout).toBe('Rows affected: 1\n')
    const seen = await until('node B to have the row', async () => {
      const r = await cli(['-c', cfgB, 'query', 'SELECT * FROM todos;'])
      return r.stdout.includes('some-id') ? r.stdout : undefined
    })
    expect(seen).toBe('some-id|Write some Corrosion docs!|\n')
  })

  it('exec on node B propagates to node A', async (ctx) => {
    ctx.skip(noIpv6 !== undefined, noIpv6)
    const exec = await cli([
      '-c',
      cfgB,
      'exec',
      '--param',
      'some-id-2',
      '--param',
      'Show how broadcasts work',
      'INSERT INTO todos (id, title) VALUES (?, ?)',
    ])
    expect(exec.stdout).toBe('Rows affected: 1\n')
    const seen = await until('node A to have both rows', async () => {
      const r = await cli(['-c', cfgA, 'query', 'SELECT * FROM todos ORDER BY id;'])
      return r.stdout.includes('some-id-2') ? r.stdout : undefined
    })
    expect(seen).toBe('some-id|Write some Corrosion docs!|\nsome-id-2|Show how broadcasts work|\n')
  })

  it('both agents stop cleanly on SIGTERM', async (ctx) => {
    ctx.skip(noIpv6 !== undefined, noIpv6)
    for (const a of agents) a.child.kill('SIGTERM')
    const codes = await Promise.all(agents.map((a) => a.exit))
    expect(codes, agents.map((a) => a.output.join('')).join('\n---\n')).toEqual([0, 0])
  })
})
