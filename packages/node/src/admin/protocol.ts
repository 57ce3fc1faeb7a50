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
import { ADMIN_COMMANDS, AdminCommandSchema, adminTextForm, type AdminCommand } from './commands.js'

export { AdminCommandSchema, type AdminCommand } from './commands.js'

export type AdminResponse =
  { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } }

/** Longest request or response line accepted, in bytes. */
export const ADMIN_LINE_MAX_BYTES = 16 * 1024 * 1024

/**
 * Parses the text form used on the command line and in docs (each command's words, then its
 * argument: `sync status`, `log level debug`, `backup /a path/with spaces.db`; see
 * `commands.ts`), or a wire name alone (`sync-status`). Returns an error message when the text
 * is not a command.
 */
export function parseAdminCommand(text: string): AdminCommand | { error: string } {
  const trimmed = text.trim()
  const words = trimmed.split(/\s+/)
  for (const c of ADMIN_COMMANDS) {
    const named = c.words.every((w, i) => words[i] === w)
    if (!named && !(words.length === 1 && words[0] === c.cmd && c.arg === undefined)) continue
    let rest = trimmed
    if (named) for (const w of c.words) rest = rest.slice(w.length).trimStart()
    else rest = ''
    const candidate =
      c.arg === undefined ? (rest === '' ? { cmd: c.cmd } : null) : { cmd: c.cmd, [c.arg]: rest }
    const r = candidate === null ? null : AdminCommandSchema.safeParse(candidate)
    if (r?.success === true) return r.data
  }
  return {
    error: `admin command ${JSON.stringify(text)} is not one of: ${ADMIN_COMMANDS.map(adminTextForm).join(', ')}`,
  }
}
