/** Admin socket client: one request, one response. */
import { createConnection } from 'node:net'
import { PatinaError, isErrorCode } from '@patina/api'
import { ADMIN_LINE_MAX_BYTES, parseAdminCommand, type AdminCommand, type AdminResponse } from './protocol.js'

export interface AdminRequestOptions {
  /** Give up after this long without a response. Default 60 s (backups of large databases take longer: pass more). */
  timeoutMs?: number
}

/** Thrown when nothing answers on the socket (no agent running). */
export class AdminUnavailableError extends PatinaError {
  constructor(path: string, cause: unknown) {
    const code = (cause as { code?: string } | undefined)?.code ?? 'unknown error'
    super(
      'PATINA_ERR_CLOSED',
      `no agent answers on the admin socket ${path} (${code}); is the agent running?`,
      {
        cause,
      },
    )
    this.name = 'AdminUnavailableError'
  }
}

/**
 * Sends one command and resolves to its result; rejects with the agent's error (a
 * `PatinaError` with its code) or {@link AdminUnavailableError}.
 *
 * @example
 * ```ts
 * await adminRequest(config.admin.path, 'log level debug')
 * const members = await adminRequest(config.admin.path, { cmd: 'members' })
 * ```
 */
export function adminRequest(
  path: string,
  command: AdminCommand | string,
  opts: AdminRequestOptions = {},
): Promise<unknown> {
  let cmd: AdminCommand
  if (typeof command === 'string') {
    const parsed = parseAdminCommand(command)
    if ('error' in parsed) return Promise.reject(new PatinaError('PATINA_ERR_MESSAGE_INVALID', parsed.error))
    cmd = parsed
  } else cmd = command
  const timeoutMs = opts.timeoutMs ?? 60_000
  return new Promise((resolve, reject) => {
    let connected = false
    let buf = ''
    let settled = false
    const socket = createConnection(path)
    const done = (fn: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      fn()
    }
    const timer = setTimeout(
      () =>
        done(() =>
          reject(
            new PatinaError(
              'PATINA_ERR_TIMEOUT',
              `admin command ${cmd.cmd} got no answer within ${timeoutMs} ms`,
            ),
          ),
        ),
      timeoutMs,
    )
    socket.setEncoding('utf8')
    socket.once('connect', () => {
      connected = true
      socket.write(JSON.stringify(cmd) + '\n')
    })
    socket.on('data', (chunk: string) => {
      buf += chunk
      if (buf.length > ADMIN_LINE_MAX_BYTES)
        return done(() => reject(new PatinaError('PATINA_ERR_MESSAGE_INVALID', 'admin response too large')))
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      let res: AdminResponse
      try {
        res = JSON.parse(buf.slice(0, nl)) as AdminResponse
      } catch {
        return done(() =>
          reject(new PatinaError('PATINA_ERR_MESSAGE_INVALID', 'admin response is not valid JSON')),
        )
      }
      done(() => {
        if (res.ok) resolve(res.result)
        else
          reject(
            new PatinaError(
              isErrorCode(res.error.code) ? res.error.code : 'PATINA_ERR_INTERNAL',
              res.error.message,
            ),
          )
      })
    })
    socket.on('error', (e) => done(() => reject(connected ? e : new AdminUnavailableError(path, e))))
    socket.on('close', () =>
      done(() =>
        reject(
          connected
            ? new PatinaError('PATINA_ERR_CLOSED', `admin socket ${path} closed before answering`)
            : new AdminUnavailableError(path, undefined),
        ),
      ),
    )
  })
}

/** Whether an agent answers on `path`. */
export async function isAdminReachable(path: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    await adminRequest(path, { cmd: 'ping' }, { timeoutMs })
    return true
  } catch (e) {
    if (e instanceof AdminUnavailableError) return false
    throw e
  }
}
