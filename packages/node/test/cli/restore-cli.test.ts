/** `patina restore` refusals and `patina backup` through a running agent. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createAdminServer } from '../../src/admin/index.js'
import { cliTestState, run } from './helpers.js'

const t = cliTestState()

describe('restore refusals', () => {
  it('refuses while an agent answers, and refuses a file that is not SQLite', async () => {
    const path = join(t.dir, 'admin.sock')
    const backup = join(t.dir, 'backup.db')
    writeFileSync(backup, 'not sqlite')
    t.admin = await createAdminServer(
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
    const r = await run(
      ['--admin-path', path, '--db-path', join(t.dir, 'db', 'state.db'), 'restore', backup],
      {
        cwd: t.dir,
      },
    )
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      `error: an agent is running (it answers on ${path}); stop it before restoring [PATINA_ERR_BACKUP]\n`,
    )
    await t.admin.close()
    t.admin = undefined
    const r2 = await run(
      ['--admin-path', path, '--db-path', join(t.dir, 'db', 'state.db'), 'restore', backup],
      { cwd: t.dir },
    )
    expect(r2.stderr).toBe(`error: backup ${backup} is not a SQLite database [PATINA_ERR_BACKUP]\n`)
    expect(existsSync(join(t.dir, 'db', 'state.db'))).toBe(false)
  })

  it('backup goes through the running agent when it answers', async () => {
    const path = join(t.dir, 'admin.sock')
    const asked: string[] = []
    t.admin = await createAdminServer(
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
    const r = await run(['--admin-path', path, 'backup', 'out/b.db'], { cwd: t.dir })
    expect(r.code).toBe(0)
    expect(asked).toEqual([join(t.dir, 'out/b.db')])
    expect(r.stdout).toBe(`backed up to ${join(t.dir, 'out/b.db')} (20 bytes)\n`)
    expect(readFileSync(join(t.dir, 'out/b.db'), 'latin1')).toBe('SQLite format 3\0copy')
    const again = await run(['--admin-path', path, 'backup', 'out/b.db'], { cwd: t.dir })
    expect(again.stderr).toContain('already exists')
  })
})
