/**
 * `backup PATH` (online through the admin socket, or offline by opening the database) and
 * `restore PATH` (offline only: refuses while an agent answers on the admin socket).
 */
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  openSync,
  fsyncSync,
  closeSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs'
import { dirname, resolve } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Command } from 'commander'
import { PatinaError } from '@patina/api'
import { adminRequest, isAdminReachable } from '../../admin/client.js'
import { loadCliConfig, type CliDeps, type Output } from '../context.js'
import { formatProgress } from '../format.js'

const SQLITE_HEADER = 'SQLite format 3\0'

/** Whether `path` starts with the SQLite file header. */
export function isSqliteFile(path: string): boolean {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    const buf = Buffer.alloc(16)
    return readSync(fd, buf, 0, 16, 0) === 16 && buf.toString('latin1') === SQLITE_HEADER
  } catch {
    return false
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** Progress lines: on a terminal one line rewritten in place, otherwise a line per 10 %. */
export function progressReporter(out: Output, label: string): (done: number, total: number) => void {
  let last = -1
  return (done, total) => {
    const pct = total === 0 ? 100 : Math.floor((done / total) * 100)
    if (out.isTTY) {
      if (pct === last) return
      last = pct
      out.write(`\r${formatProgress(label, done, total)}${pct === 100 ? '\n' : ''}`)
    } else {
      const step = Math.floor(pct / 10)
      if (step === last) return
      last = step
      out.write(`${formatProgress(label, done, total)}\n`)
    }
  }
}

/**
 * Swaps the database at `dbPath` for the backup at `src`: copies it next to the database (with
 * progress), syncs it to disk, removes the old WAL and shared-memory files (they belong to the
 * old database) and renames the copy into place. The caller has made sure no agent runs.
 */
export async function swapInDatabase(
  src: string,
  dbPath: string,
  onProgress: (done: number, total: number) => void,
): Promise<void> {
  const total = statSync(src).size
  mkdirSync(dirname(dbPath), { recursive: true })
  const tmp = `${dbPath}.restore-tmp`
  let done = 0
  onProgress(0, total)
  await pipeline(
    createReadStream(src),
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        done += chunk.length
        onProgress(done, total)
        cb(null, chunk)
      },
    }),
    createWriteStream(tmp),
  )
  const fd = openSync(tmp, 'r+')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  rmSync(`${dbPath}-wal`, { force: true })
  rmSync(`${dbPath}-shm`, { force: true })
  renameSync(tmp, dbPath)
}

export function registerBackupCommands(program: Command, deps: CliDeps): void {
  program
    .command('backup')
    .description(
      'Write a consistent copy of the database that can seed a new node (node identity removed). ' +
        'Through the running agent when one answers on the admin socket, else by opening db.path directly',
    )
    .argument('<path>', 'file to write')
    .action(async (path: string, _opts: unknown, cmd: Command) => {
      const { config } = loadCliConfig(cmd, deps)
      const target = resolve(deps.cwd, path)
      if (existsSync(target))
        throw new PatinaError('PATINA_ERR_BACKUP', `backup path ${target} already exists; choose a new file`)
      mkdirSync(dirname(target), { recursive: true })
      if (await isAdminReachable(config.admin.path)) {
        deps.stderr.write(`backing up through the running agent (${config.admin.path})...\n`)
        await adminRequest(config.admin.path, { cmd: 'backup', path: target }, { timeoutMs: 3_600_000 })
      } else {
        if (!existsSync(config.db.path))
          throw new PatinaError(
            'PATINA_ERR_BACKUP',
            `db.path ${config.db.path} does not exist; nothing to back up`,
          )
        deps.stderr.write(
          `no agent answers on ${config.admin.path}; backing up ${config.db.path} directly...\n`,
        )
        const { createStateEngine } = await import('@patina/core')
        const engine = createStateEngine({ path: config.db.path })
        try {
          await engine.backup(target)
        } finally {
          engine.close()
        }
      }
      deps.stdout.write(`backed up to ${target} (${statSync(target).size} bytes)\n`)
    })

  program
    .command('restore')
    .description(
      'Replace the database at db.path with a backup. Offline only: refuses while an agent answers on the admin socket. ' +
        'The node keeps its libp2p identity; subscriptions state is cleared. The restored file loses ' +
        'its actor id (the node takes a new one, so it never issues a version number twice) unless --keep-actor',
    )
    .argument('<path>', 'backup file written by `patina backup`, or a copy of a database file')
    .option(
      '--keep-actor',
      'keep the actor id of the file: the node then asks peers at start for versions of that actor beyond the file (db.own_history_wait_ms) before accepting writes',
    )
    .action(async (path: string, opts: { keepActor?: boolean }, cmd: Command) => {
      const { config } = loadCliConfig(cmd, deps)
      const src = resolve(deps.cwd, path)
      if (await isAdminReachable(config.admin.path))
        throw new PatinaError(
          'PATINA_ERR_BACKUP',
          `an agent is running (it answers on ${config.admin.path}); stop it before restoring`,
        )
      if (!existsSync(src)) throw new PatinaError('PATINA_ERR_BACKUP', `backup ${src} does not exist`)
      if (!isSqliteFile(src))
        throw new PatinaError('PATINA_ERR_BACKUP', `backup ${src} is not a SQLite database`)
      if (src === config.db.path)
        throw new PatinaError('PATINA_ERR_BACKUP', `backup ${src} is db.path itself`)
      rmSync(config.db.subscriptions_path, { recursive: true, force: true })
      await swapInDatabase(src, config.db.path, progressReporter(deps.stderr, 'restoring'))
      if (opts.keepActor !== true) {
        const { forgetIdentity } = await import('@patina/core')
        forgetIdentity(config.db.path)
      }
      deps.stdout.write(
        `restored ${src} into ${config.db.path}${opts.keepActor === true ? ' keeping its actor id' : ' with a new actor id'}; start the agent to rejoin the cluster\n`,
      )
    })
}
