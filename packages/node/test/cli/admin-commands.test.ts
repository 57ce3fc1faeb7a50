/** Commands that go through the admin socket: reload, log level, sync status, subscriptions. */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createAdminServer } from '../../src/admin/index.js'
import { cliTestState, run } from './helpers.js'

const t = cliTestState()

describe('admin commands', () => {
  it('reload, sync status, subs list and log set go through the admin socket', async () => {
    const seen: string[] = []
    const path = join(t.dir, 'admin.sock')
    t.admin = await createAdminServer(
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
    const r1 = await run(['--admin-path', path, 'reload'], { cwd: t.dir })
    expect(r1.code).toBe(0)
    expect(JSON.parse(r1.stdout)).toEqual({ tablesCreated: ['routes'] })
    const r2 = await run(['--admin-path', path, 'log', 'set', 'debug'], { cwd: t.dir })
    expect(JSON.parse(r2.stdout)).toEqual({ level: 'debug' })
    await run(['--admin-path', path, 'sync', 'status'], { cwd: t.dir })
    const r4 = await run(['--admin-path', path, 'subs', 'list'], { cwd: t.dir })
    expect(JSON.parse(r4.stdout)).toEqual([{ id: 's1' }])
    expect(seen).toEqual(['reload', 'log debug', 'sync', 'subs'])
  })

  it('says when no agent runs', async () => {
    const path = join(t.dir, 'none.sock')
    const r = await run(['--admin-path', path, 'reload'], { cwd: t.dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      `error: no agent answers on the admin socket ${path} (ENOENT); is the agent running? [PATINA_ERR_CLOSED]\n`,
    )
  })
})
