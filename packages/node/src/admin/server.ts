/**
 * The admin socket server. The agent creates it with handlers that reach into its components;
 * this module only frames, validates and dispatches (to the table in `commands.ts`).
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { dirname } from 'node:path'
import { PatinaError } from '@patina/api'
import type { Logger } from 'pino'
import { ADMIN_LINE_MAX_BYTES, AdminCommandSchema, type AdminResponse } from './protocol.js'
import { ADMIN_COMMANDS, runAdminCommand, type AdminHandlers } from './commands.js'
import { componentLogger } from '../runtime/log.js'

export type { AdminHandlers } from './commands.js'

export interface AdminServer {
  readonly path: string
  close(): Promise<void>
}

export interface AdminServerOptions {
  logger?: Logger
}

function errorResponse(e: unknown): AdminResponse {
  if (e instanceof PatinaError) return { ok: false, error: { code: e.code, message: e.message } }
  const message = e instanceof Error ? e.message : String(e)
  return { ok: false, error: { code: 'PATINA_ERR_INTERNAL', message } }
}

/** Answers `line` (one request); never throws. */
export async function handleAdminLine(handlers: AdminHandlers, line: string): Promise<AdminResponse> {
  let raw: unknown
  try {
    raw = JSON.parse(line)
  } catch {
    return {
      ok: false,
      error: { code: 'PATINA_ERR_MESSAGE_INVALID', message: 'admin request is not valid JSON' },
    }
  }
  const parsed = AdminCommandSchema.safeParse(raw)
  if (!parsed.success) {
    return {
      ok: false,
      error: {
        code: 'PATINA_ERR_MESSAGE_INVALID',
        message: `admin request ${line.slice(0, 200)} is not a known command (cmd: ${ADMIN_COMMANDS.map((c) => c.cmd).join(', ')})`,
      },
    }
  }
  try {
    const result = await runAdminCommand(handlers, parsed.data)
    return { ok: true, result: result ?? null }
  } catch (e) {
    return errorResponse(e)
  }
}

function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/**
 * Listens on `path`. A stale socket file left by a crashed agent is removed; a socket that
 * answers means another agent runs on this database and is an error.
 */
export async function createAdminServer(
  handlers: AdminHandlers,
  path: string,
  opts: AdminServerOptions = {},
): Promise<AdminServer> {
  const log = opts.logger === undefined ? undefined : componentLogger(opts.logger, 'admin')
  mkdirSync(dirname(path), { recursive: true })
  if (existsSync(path)) {
    if (await probe(path))
      throw new PatinaError(
        'PATINA_ERR_CONFIG_INVALID',
        `admin.path ${path} is in use: another agent answers on it`,
      )
    unlinkSync(path)
  }
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.setEncoding('utf8')
    let buf = ''
    let chain = Promise.resolve()
    socket.on('data', (chunk: string) => {
      buf += chunk
      if (buf.length > ADMIN_LINE_MAX_BYTES) {
        socket.end(
          JSON.stringify({
            ok: false,
            error: {
              code: 'PATINA_ERR_MESSAGE_INVALID',
              message: `admin request above ${ADMIN_LINE_MAX_BYTES} bytes`,
            },
          }) + '\n',
        )
        buf = ''
        return
      }
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim()
        buf = buf.slice(nl + 1)
        if (line === '') continue
        // Answer in order, one request at a time per connection.
        chain = chain.then(async () => {
          const res = await handleAdminLine(handlers, line)
          log?.debug({ request: line.slice(0, 200), ok: res.ok }, 'admin request')
          if (!socket.destroyed) socket.write(JSON.stringify(res) + '\n')
        })
      }
    })
    socket.on('error', () => socket.destroy())
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => {
      server.off('error', reject)
      resolve()
    })
  })
  try {
    chmodSync(path, 0o600)
  } catch {
    // best effort: some filesystems do not support socket modes
  }
  log?.info({ path }, 'admin socket listening')
  let closed: Promise<void> | undefined
  return {
    path,
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => {
          try {
            unlinkSync(path)
          } catch {
            // already gone
          }
          resolve()
        })
      })
      return closed
    },
  }
}
