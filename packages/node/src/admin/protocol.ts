/**
 * The admin protocol: one JSON object per line over a Unix socket, request then response, in
 * order, on one connection. Pure types and parsing; `server.ts` and `client.ts` do the I/O.
 *
 * ```
 * → {"cmd":"log-level","level":"debug"}
 * ← {"ok":true,"result":{"level":"debug"}}
 * → {"cmd":"nope"}
 * ← {"ok":false,"error":{"code":"PATINA_ERR_STATEMENT_INVALID","message":"..."}}
 * ```
 */
import { z } from 'zod'
import { LOG_LEVELS } from '../config/schema.js'

export const AdminCommandSchema = z.discriminatedUnion('cmd', [
  z.strictObject({ cmd: z.literal('ping') }),
  z.strictObject({ cmd: z.literal('reload') }),
  z.strictObject({ cmd: z.literal('members') }),
  z.strictObject({ cmd: z.literal('sync-status') }),
  z.strictObject({ cmd: z.literal('subs-list') }),
  z.strictObject({ cmd: z.literal('log-level'), level: z.enum(LOG_LEVELS) }),
  z.strictObject({ cmd: z.literal('backup'), path: z.string().min(1) }),
])
export type AdminCommand = z.infer<typeof AdminCommandSchema>

export type AdminResponse =
  { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } }

/** Longest request or response line accepted, in bytes. */
export const ADMIN_LINE_MAX_BYTES = 16 * 1024 * 1024

/**
 * Parses the text form used on the command line and in docs: `reload`, `members`, `sync status`,
 * `subs list`, `log level <level>`, `backup <path>`, `ping`. Returns an error message when the
 * text is not a command.
 */
export function parseAdminCommand(text: string): AdminCommand | { error: string } {
  const words = text.trim().split(/\s+/)
  const [a = '', b, ...rest] = words
  const candidate: unknown =
    a === 'sync' && b === 'status' && rest.length === 0
      ? { cmd: 'sync-status' }
      : a === 'subs' && b === 'list' && rest.length === 0
        ? { cmd: 'subs-list' }
        : a === 'log' && b === 'level' && rest.length === 1
          ? { cmd: 'log-level', level: rest[0] }
          : a === 'backup' && b !== undefined
            ? { cmd: 'backup', path: text.trim().slice('backup'.length).trim() }
            : b === undefined
              ? { cmd: a }
              : { cmd: words.join(' ') }
  const r = AdminCommandSchema.safeParse(candidate)
  if (r.success) return r.data
  return {
    error: `admin command ${JSON.stringify(text)} is not one of: ping, reload, members, sync status, subs list, log level <${LOG_LEVELS.join('|')}>, backup <path>`,
  }
}
