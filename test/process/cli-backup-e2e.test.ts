/**
 * Backup of a running node, restored into a new node that joins the cluster and converges:
 * `patina backup` (online, through the admin socket), `patina restore` (offline), then the
 * restored node starts with the data already there, gets a new identity, and receives later writes.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort, runCli, spawnCli } from '../helpers/process.js'
import { waitFor } from '../helpers/wait.js'

const SCHEMA = "CREATE TABLE todos (id TEXT NOT NULL PRIMARY KEY, title TEXT NOT NULL DEFAULT '');\n"

const dir = mkdtempSync(join(tmpdir(), 'patina-bk-'))
const agents: { child: ChildProcess; out: string[]; exit: Promise<number | null> }[] = []
afterAll(async () => {
  for (const a of agents) if (a.child.exitCode === null) a.child.kill('SIGKILL')
  await Promise.all(agents.map((a) => a.exit))
  rmSync(dir, { recursive: true, force: true })
})

function startAgent(cfg: string) {
  const p = spawnCli(['-c', cfg, 'agent'])
  const a = { child: p.child, out: p.output, exit: p.exit }
  agents.push(a)
  return a
}

const cli = runCli

/** Waits for `fn` (30 s, every 250 ms), failing at once when an agent has exited. */
const until = (what: string, fn: () => Promise<boolean>): Promise<boolean> =>
  waitFor(what, fn, {
    timeoutMs: 30_000,
    intervalMs: 250,
    stopIf: () => {
      const dead = agents.find((a) => a.child.exitCode !== null)
      return dead && `an agent exited:\n${dead.out.join('')}`
    },
  })

async function config(name: string, bootstrap: number[]): Promise<{ path: string; gossip: number }> {
  const [gossip, api] = [await freePort(), await freePort()]
  mkdirSync(join(dir, name), { recursive: true })
  const path = join(dir, name, 'config.toml')
  writeFileSync(
    path,
    `[db]\npath = "${dir}/${name}/state.db"\nschema_paths = ["${dir}/schema.sql"]\n\n` +
      `[gossip]\naddr = "127.0.0.1:${gossip}"\nbootstrap = [${bootstrap.map((p) => `"127.0.0.1:${p}"`).join(', ')}]\n` +
      `sync_interval_min_ms = 200\nsync_interval_max_ms = 1000\n\n[api]\naddr = "127.0.0.1:${api}"\n`,
  )
  return { path, gossip }
}

describe('backup and restore', () => {
  it('a backup of a running node seeds a new node that joins and converges', async () => {
    writeFileSync(join(dir, 'schema.sql'), SCHEMA)
    const a = await config('a', [])
    startAgent(a.path)
    await until('node A', async () => (await cli(['-c', a.path, 'query', 'SELECT 1'])).code === 0)
    for (let i = 1; i <= 3; i++)
      expect(
        (
          await cli([
            '-c',
            a.path,
            'exec',
            '--param',
            `t${i}`,
            'INSERT INTO todos (id, title) VALUES (?, ?)',
            '--param',
            `before ${i}`,
          ])
        ).stdout,
      ).toBe('Rows affected: 1\n')

    const backup = join(dir, 'a-backup.db')
    const b1 = await cli(['-c', a.path, 'backup', backup])
    expect(b1.stderr).toContain('backing up through the running agent')
    expect(b1.code).toBe(0)

    const b = await config('b', [a.gossip])
    const r = await cli(['-c', b.path, 'restore', backup])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/restoring 100% /)

    startAgent(b.path)
    await until('node B', async () => (await cli(['-c', b.path, 'query', 'SELECT 1'])).code === 0)
    expect((await cli(['-c', b.path, 'query', 'SELECT id FROM todos ORDER BY id'])).stdout).toBe(
      't1\nt2\nt3\n',
    )

    await cli([
      '-c',
      a.path,
      'exec',
      '--param',
      't4',
      '--param',
      'after',
      'INSERT INTO todos (id, title) VALUES (?, ?)',
    ])
    await cli([
      '-c',
      b.path,
      'exec',
      '--param',
      't5',
      '--param',
      'from b',
      'INSERT INTO todos (id, title) VALUES (?, ?)',
    ])
    for (const cfg of [a.path, b.path])
      await until(`${cfg} to converge`, async () => {
        const q = await cli(['-c', cfg, 'query', 'SELECT id FROM todos ORDER BY id'])
        return q.stdout === 't1\nt2\nt3\nt4\nt5\n'
      })

    const members = await cli(['-c', a.path, 'cluster', 'members', '--json'])
    const ids = (JSON.parse(members.stdout) as { members: { actor_id: string; state: string }[] }).members
    expect(new Set(ids.map((m) => m.actor_id)).size).toBe(2)

    for (const ag of agents) ag.child.kill('SIGTERM')
    expect(await Promise.all(agents.map((ag) => ag.exit))).toEqual([0, 0])
  }, 150_000)
})
