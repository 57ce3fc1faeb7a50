import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PatinaError } from '@patina/api'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  AdminUnavailableError,
  adminRequest,
  createAdminServer,
  isAdminReachable,
  parseAdminCommand,
  type AdminHandlers,
  type AdminServer,
} from '../../src/admin/index.js'

let dir: string
let server: AdminServer | undefined
const calls: string[] = []

const handlers: AdminHandlers = {
  reload: () => {
    calls.push('reload')
    return { tablesCreated: ['routes'] }
  },
  members: () => [{ actor_id: 'a', state: 'alive' }],
  syncStatus: () => ({ gaps: 0 }),
  subsList: () => [],
  logLevel: (level) => {
    calls.push(`log ${level}`)
    return { level }
  },
  backup: async (path) => {
    if (path.includes('fail')) throw new PatinaError('PATINA_ERR_BACKUP', `cannot write ${path}`)
    calls.push(`backup ${path}`)
    return { path }
  },
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'patina-admin-'))
  calls.length = 0
})
afterEach(async () => {
  await server?.close()
  server = undefined
  rmSync(dir, { recursive: true, force: true })
})

describe('admin socket', () => {
  it('answers every command over the socket', async () => {
    const path = join(dir, 'sub', 'admin.sock')
    server = await createAdminServer(handlers, path)
    expect(await adminRequest(path, 'reload')).toEqual({ tablesCreated: ['routes'] })
    expect(await adminRequest(path, 'members')).toEqual([{ actor_id: 'a', state: 'alive' }])
    expect(await adminRequest(path, 'sync status')).toEqual({ gaps: 0 })
    expect(await adminRequest(path, 'subs list')).toEqual([])
    expect(await adminRequest(path, 'log level debug')).toEqual({ level: 'debug' })
    expect(await adminRequest(path, { cmd: 'backup', path: '/tmp/x y.db' })).toEqual({ path: '/tmp/x y.db' })
    expect(await adminRequest(path, 'ping')).toMatchObject({ pong: true })
    expect(calls).toEqual(['reload', 'log debug', 'backup /tmp/x y.db'])
  })

  it('returns handler errors with their code', async () => {
    const path = join(dir, 'admin.sock')
    server = await createAdminServer(handlers, path)
    const err = await adminRequest(path, 'backup /fail.db').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PatinaError)
    expect((err as PatinaError).code).toBe('PATINA_ERR_BACKUP')
    expect((err as PatinaError).message).toBe('cannot write /fail.db')
  })

  it('answers malformed and unknown requests with an error line, in order', async () => {
    const path = join(dir, 'admin.sock')
    server = await createAdminServer(handlers, path)
    const lines = await new Promise<string[]>((resolve, reject) => {
      const s = createConnection(path)
      let buf = ''
      s.setEncoding('utf8')
      s.on('data', (c: string) => {
        buf += c
        const got = buf.split('\n').filter((l) => l !== '')
        if (got.length === 3) {
          s.destroy()
          resolve(got)
        }
      })
      s.on('error', reject)
      s.write('not json\n{"cmd":"explode"}\n{"cmd":"log-level","level":"debug"}\n')
    })
    const [a, b, c] = lines.map((l) => JSON.parse(l) as { ok: boolean; error?: { code: string } })
    expect(a).toMatchObject({ ok: false, error: { code: 'PATINA_ERR_MESSAGE_INVALID' } })
    expect(b).toMatchObject({ ok: false, error: { code: 'PATINA_ERR_MESSAGE_INVALID' } })
    expect(c).toEqual({ ok: true, result: { level: 'debug' } })
  })

  it('refuses an unknown text command before connecting', async () => {
    const err = await adminRequest(join(dir, 'none.sock'), 'log level loud').catch((e: unknown) => e)
    expect((err as PatinaError).code).toBe('PATINA_ERR_MESSAGE_INVALID')
    expect(parseAdminCommand('sync status')).toEqual({ cmd: 'sync-status' })
    expect(parseAdminCommand('frobnicate')).toHaveProperty('error')
  })

  it('reports an absent agent as unavailable', async () => {
    const path = join(dir, 'admin.sock')
    const err = await adminRequest(path, 'members').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AdminUnavailableError)
    expect((err as Error).message).toContain('ENOENT')
    expect(await isAdminReachable(path)).toBe(false)
  })

  it('replaces a stale socket file but refuses one that answers', async () => {
    const path = join(dir, 'admin.sock')
    writeFileSync(path, '') // left over by a crash
    server = await createAdminServer(handlers, path)
    expect(await isAdminReachable(path)).toBe(true)
    const err = await createAdminServer(handlers, path).catch((e: unknown) => e)
    expect((err as PatinaError).code).toBe('PATINA_ERR_CONFIG_INVALID')
    expect((err as Error).message).toBe(`admin.path ${path} is in use: another agent answers on it`)
    await server.close()
    server = undefined
    expect(existsSync(path)).toBe(false)
  })
})
