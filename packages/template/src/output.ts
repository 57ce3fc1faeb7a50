/**
 * Writing a rendered file so that a reader sees the old content or the new, never a mix: a
 * temporary file in the same folder (same file system, so `rename` is atomic), written and
 * fsync'ed, renamed over the destination, then the folder fsync'ed so the rename survives a
 * crash. The temporary file is removed when anything fails.
 */
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { PatinaError } from '@patina/api'

/** A file that could not be read or written: `PATINA_ERR_TEMPLATE_OUTPUT`, naming it and why. */
export class TemplateOutputError extends PatinaError {
  constructor(message: string, cause?: unknown) {
    super('PATINA_ERR_TEMPLATE_OUTPUT', message, cause === undefined ? undefined : { cause })
    this.name = 'TemplateOutputError'
  }
}

const reason = (e: unknown): string => {
  const err = e as NodeJS.ErrnoException
  if (err.code === 'ENOENT') return 'no such file or folder'
  if (err.code === 'EACCES' || err.code === 'EPERM') return 'permission denied'
  if (err.code === 'ENOTDIR') return 'a part of the path is not a folder'
  if (err.code === 'EISDIR') return 'it is a folder'
  return err.message
}

/** Checks that `dst`'s folder exists and is a folder (a clear message before any render). */
export async function checkOutputFolder(dst: string): Promise<void> {
  const dir = dirname(dst)
  let st
  try {
    st = await stat(dir)
  } catch (e) {
    throw new TemplateOutputError(
      `cannot write ${dst}: its folder ${dir} does not exist (${reason(e)}); create it first`,
      e,
    )
  }
  if (!st.isDirectory()) throw new TemplateOutputError(`cannot write ${dst}: ${dir} is not a folder`)
}

/** The current content of `path`, or null when it does not exist. */
export async function readCurrent(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new TemplateOutputError(`cannot read ${path}: ${reason(e)}`, e)
  }
}

async function fsyncFolder(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY)
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** Replaces `dst` with `content` atomically (see the module comment), keeping its permissions (new: 0644). */
export async function writeAtomic(dst: string, content: string): Promise<void> {
  const dir = dirname(dst)
  const mode = await stat(dst).then(
    (st) => st.mode & 0o777,
    () => 0o644,
  )
  const tmp = join(dir, `.${basename(dst)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  let created = false
  try {
    const fh = await open(tmp, 'wx', mode)
    created = true
    try {
      await fh.writeFile(content, 'utf8')
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, dst)
    created = false
    await fsyncFolder(dir)
  } catch (e) {
    if (created) await unlink(tmp).catch(() => {})
    if (e instanceof TemplateOutputError) throw e
    const err = e as NodeJS.ErrnoException
    if (err.code === 'ENOENT' && err.path === tmp)
      throw new TemplateOutputError(`cannot write ${dst}: its folder ${dir} does not exist`, e)
    throw new TemplateOutputError(`cannot write ${dst}: ${reason(e)}`, e)
  }
}

/** Puts `previous` back at `dst` (atomically), or removes `dst` when there was no file before. */
export async function restore(dst: string, previous: string | null): Promise<void> {
  if (previous !== null) return writeAtomic(dst, previous)
  try {
    await unlink(dst)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new TemplateOutputError(`cannot remove ${dst}: ${reason(e)}`, e)
  }
}
