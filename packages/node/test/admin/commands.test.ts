/** The admin command table (`admin/commands.ts`): the protocol, text form, CLI and docs all come from it. */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  ADMIN_COMMANDS,
  adminTextForm,
  AdminCommandSchema,
  runAdminCommand,
} from '../../src/admin/commands.js'
import type { AdminHandlers } from '../../src/admin/commands.js'
import { parseAdminCommand } from '../../src/admin/protocol.js'
import { buildProgram } from '../../src/cli/program.js'
import type { CliDeps } from '../../src/cli/context.js'

const calls: string[] = []
const handlers: AdminHandlers = {
  reload: () => calls.push('reload'),
  members: () => calls.push('members'),
  syncStatus: () => calls.push('syncStatus'),
  subsList: () => calls.push('subsList'),
  logLevel: (level) => calls.push(`logLevel ${level}`),
  backup: (path) => calls.push(`backup ${path}`),
}

describe('admin command table', () => {
  it.each([
    ['ping', { cmd: 'ping' }],
    ['reload', { cmd: 'reload' }],
    ['members', { cmd: 'members' }],
    ['sync status', { cmd: 'sync-status' }],
    ['  subs   list ', { cmd: 'subs-list' }],
    ['sync-status', { cmd: 'sync-status' }],
    ['log level warn', { cmd: 'log-level', level: 'warn' }],
    ['backup /tmp/a b.db', { cmd: 'backup', path: '/tmp/a b.db' }],
  ])('parses the text form %j', (text, cmd) => {
    expect(parseAdminCommand(text)).toEqual(cmd)
  })

  it.each([
    'frobnicate',
    'log level',
    'log level loud',
    'log level debug extra',
    'backup',
    'reload now',
    'sync',
  ])('refuses %j, listing every command', (text) => {
    const r = parseAdminCommand(text)
    expect(r).toHaveProperty('error')
    for (const c of ADMIN_COMMANDS) expect((r as { error: string }).error).toContain(adminTextForm(c))
  })

  it('runs each command on its handler', async () => {
    calls.length = 0
    for (const c of ['reload', 'members', 'sync status', 'subs list', 'log level info', 'backup x.db'])
      await runAdminCommand(handlers, AdminCommandSchema.parse(parseAdminCommand(c)))
    expect(calls).toEqual(['reload', 'members', 'syncStatus', 'subsList', 'logLevel info', 'backup x.db'])
    expect(runAdminCommand(handlers, { cmd: 'ping' })).toMatchObject({ pong: true, pid: process.pid })
  })

  it('gives the CLI one command per entry with CLI words, with the help of the table', () => {
    const program = buildProgram({} as CliDeps)
    for (const c of ADMIN_COMMANDS) {
      if (c.cli === undefined) continue
      const cmd = c.cli.reduce<ReturnType<typeof buildProgram> | undefined>(
        (p, w) => p?.commands.find((x) => x.name() === w),
        program,
      )
      expect(cmd?.description(), c.cli.join(' ')).toBe(c.help)
    }
  })

  it('docs/config.md names every CLI admin command under admin.path', () => {
    const doc = readFileSync(new URL('../../../../docs/config.md', import.meta.url), 'utf8')
    const line = doc.split('\n').find((l) => l.startsWith('- **`admin.path`**')) ?? ''
    for (const c of ADMIN_COMMANDS) if (c.cli !== undefined) expect(line).toContain(c.cli.join(' '))
  })
})
