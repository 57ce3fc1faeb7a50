import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStateEngine } from '@patina/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isSqliteFile, progressReporter, swapInDatabase } from '../../src/cli/commands/backup.js'
import { formatBytes, formatProgress } from '../../src/cli/format.js'
import { run } from './helpers.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'patina-backup-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const SCHEMA = "CREATE TABLE todos (id TEXT NOT NULL PRIMARY KEY, title TEXT NOT NULL DEFAULT '')"

describe('offline backup and restore', () => {
  it('backs up a stopped node and restores it into another, with progress', async () => {
    const dbA = join(dir, 'a', 'state.db')
    const { mkdirSync } = await import('node:fs')
    mkdirSync(join(dir, 'a'))
    const a = createStateEngine({ path: dbA, schema: SCHEMA })
    a.transaction([{ sql: 'INSERT INTO todos (id, title) VALUES (?, ?)', params: ['some-id', 'Write docs'] }])
    a.close()

    const b1 = await run(['--db-path', dbA, 'backup', 'backup.db'], { cwd: dir })
    expect(b1.stderr).toContain('backing up')
    expect(b1.code).toBe(0)
    expect(isSqliteFile(join(dir, 'backup.db'))).toBe(true)

    const dbB = join(dir, 'b', 'state.db')
    mkdirSync(join(dir, 'b', 'subscriptions'), { recursive: true })
    writeFileSync(`${dbB}-wal`, 'stale wal of an older database')
    const r = await run(['--db-path', dbB, 'restore', 'backup.db'], { cwd: dir })
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/restoring +0% \(0 B of .+\)\n(.*\n)*restoring 100% /)
    expect(r.stdout).toBe(
      `restored ${join(dir, 'backup.db')} into ${dbB} with a new actor id; start the agent to rejoin the cluster\n`,
    )
    expect(existsSync(`${dbB}-wal`)).toBe(false)
    expect(existsSync(join(dir, 'b', 'subscriptions'))).toBe(false)

    const b = createStateEngine({ path: dbB })
    try {
      const rows = [...b.query('SELECT id, title FROM todos').rows]
      expect(rows).toEqual([['some-id', 'Write docs']])
    } finally {
      b.close()
    }
  })

  it('restoring a plain copy of a database file gives the node a new actor id, unless --keep-actor', async () => {
    const { copyFileSync, mkdirSync } = await import('node:fs')
    mkdirSync(join(dir, 'a'))
    const dbA = join(dir, 'a', 'state.db')
    const a = createStateEngine({ path: dbA, schema: SCHEMA })
    a.transaction([{ sql: "INSERT INTO todos (id) VALUES ('x')" }])
    const actor = a.actorId
    a.close()
    copyFileSync(dbA, join(dir, 'copy.db')) // a file copy (or a VM snapshot), not `patina backup`
    const opened = (path: string) => {
      const e = createStateEngine({ path })
      try {
        return { actor: e.actorId, created: e.actorCreated, rows: [...e.query('SELECT id FROM todos').rows] }
      } finally {
        e.close()
      }
    }
    const dbB = join(dir, 'b', 'state.db')
    const r = await run(['--db-path', dbB, 'restore', 'copy.db'], { cwd: dir })
    expect([r.code, r.stdout]).toEqual([
      0,
      `restored ${join(dir, 'copy.db')} into ${dbB} with a new actor id; start the agent to rejoin the cluster\n`,
    ])
    const b = opened(dbB)
    expect(b).toMatchObject({ created: true, rows: [['x']] })
    expect(b.actor).not.toBe(actor)

    const dbC = join(dir, 'c', 'state.db')
    const k = await run(['--db-path', dbC, 'restore', '--keep-actor', 'copy.db'], { cwd: dir })
    expect([k.code, k.stdout]).toEqual([
      0,
      `restored ${join(dir, 'copy.db')} into ${dbC} keeping its actor id; start the agent to rejoin the cluster\n`,
    ])
    expect(opened(dbC)).toEqual({ actor, created: false, rows: [['x']] })
  })

  it('refuses to back up a database that does not exist', async () => {
    const r = await run(['--db-path', join(dir, 'none.db'), 'backup', 'out.db'], { cwd: dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`db.path ${join(dir, 'none.db')} does not exist; nothing to back up`)
  })

  it('swaps the file in atomically and reports progress in steps', async () => {
    const src = join(dir, 'src.db')
    writeFileSync(src, Buffer.alloc(300_000, 1))
    const seen: [number, number][] = []
    await swapInDatabase(src, join(dir, 'x', 'dst.db'), (d, t) => seen.push([d, t]))
    expect(statSync(join(dir, 'x', 'dst.db')).size).toBe(300_000)
    expect(existsSync(join(dir, 'x', 'dst.db.restore-tmp'))).toBe(false)
    expect(seen[0]).toEqual([0, 300_000])
    expect(seen[seen.length - 1]).toEqual([300_000, 300_000])

    let text = ''
    const report = progressReporter({ write: (s: string) => (text += s) }, 'restoring')
    for (let i = 0; i <= 100; i++) report(i * 1024, 100 * 1024)
    expect(text.trim().split('\n')).toHaveLength(11)
  })

  it('formats sizes and progress', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatProgress('restoring', 45, 100)).toBe('restoring  45% (45 B of 100 B)')
  })
})
