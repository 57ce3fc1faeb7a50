/**
 * The atomic write of a rendered file: a reader sees the old content or the new, never a mix;
 * the file is replaced by a rename (a reader holding the old file keeps reading it whole); a
 * failed write leaves the destination as it was and no temporary file; errors name the file
 * and the reason.
 */
import { mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, closeSync } from 'node:fs'
import { rmSync, statSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { PatinaError } from '@patina/api'
import { checkOutputFolder, readCurrent, restore, TemplateOutputError, writeAtomic } from '../src/output.js'

describe('writeAtomic', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'patina-out-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))
  const leftovers = () => readdirSync(dir).filter((n) => n.endsWith('.tmp'))

  it('replaces the file by a rename: a reader holding the old file reads it whole', async () => {
    const dst = join(dir, 'up.conf')
    const old = 'old '.repeat(50_000)
    writeFileSync(dst, old)
    const inode = statSync(dst).ino
    const fd = openSync(dst, 'r')
    try {
      await writeAtomic(dst, 'new\n')
      const buf = Buffer.alloc(old.length + 10)
      const n = readSync(fd, buf, 0, buf.length, 0)
      expect(buf.subarray(0, n).toString()).toBe(old) // not truncated, not mixed
    } finally {
      closeSync(fd)
    }
    expect(readFileSync(dst, 'utf8')).toBe('new\n')
    expect(statSync(dst).ino).not.toBe(inode)
    expect(leftovers()).toEqual([])
  })

  it('a reader polling during many writes only ever sees one whole version', async () => {
    const dst = join(dir, 'big.conf')
    const a = 'a'.repeat(512 * 1024)
    const b = 'b'.repeat(256 * 1024) + '\n'
    await writeAtomic(dst, a)
    let writing = true
    const seen = new Set<string>()
    const reader = (async () => {
      let reads = 0
      while (writing || reads < 10) {
        const t = await readFile(dst, 'utf8')
        seen.add(t === a ? 'a' : t === b ? 'b' : `torn (${t.length} bytes)`)
        reads++
      }
      return reads
    })()
    for (let i = 0; i < 60; i++) await writeAtomic(dst, i % 2 === 0 ? b : a)
    writing = false
    expect(await reader).toBeGreaterThan(0)
    expect([...seen].filter((s) => s.startsWith('torn'))).toEqual([])
    expect(leftovers()).toEqual([])
  })

  it('a missing folder: PATINA_ERR_TEMPLATE_OUTPUT naming the file and the folder; nothing created', async () => {
    const dst = join(dir, 'no', 'such', 'up.conf')
    const err = await writeAtomic(dst, 'x').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TemplateOutputError)
    expect((err as PatinaError).code).toBe('PATINA_ERR_TEMPLATE_OUTPUT')
    expect((err as Error).message).toBe(
      `cannot write ${dst}: its folder ${join(dir, 'no', 'such')} does not exist`,
    )
    expect(readdirSync(dir)).toEqual([])
    await expect(checkOutputFolder(dst)).rejects.toThrow(
      `cannot write ${dst}: its folder ${join(dir, 'no', 'such')} does not exist (no such file or folder); create it first`,
    )
  })

  it('a folder path that is a file, or a destination that is a folder, is refused and left alone', async () => {
    writeFileSync(join(dir, 'plain'), 'keep\n')
    await expect(checkOutputFolder(join(dir, 'plain', 'up.conf'))).rejects.toThrow(
      `cannot write ${join(dir, 'plain', 'up.conf')}: ${join(dir, 'plain')} is not a folder`,
    )
    mkdirSync(join(dir, 'taken'))
    writeFileSync(join(dir, 'taken', 'inside'), 'keep\n')
    await expect(writeAtomic(join(dir, 'taken'), 'x')).rejects.toThrow(
      new RegExp(`^cannot write ${join(dir, 'taken')}: `),
    )
    expect(statSync(join(dir, 'taken')).isDirectory()).toBe(true)
    expect(readFileSync(join(dir, 'taken', 'inside'), 'utf8')).toBe('keep\n')
    expect(readFileSync(join(dir, 'plain'), 'utf8')).toBe('keep\n')
    expect(leftovers()).toEqual([])
  })

  it('restore puts the previous content back, or removes a file that did not exist before', async () => {
    const dst = join(dir, 'up.conf')
    expect(await readCurrent(dst)).toBeNull()
    await writeAtomic(dst, 'refused\n')
    await restore(dst, 'good\n')
    expect(await readCurrent(dst)).toBe('good\n')
    await writeAtomic(dst, 'refused\n')
    await restore(dst, null)
    expect(await readCurrent(dst)).toBeNull()
    await restore(dst, null) // already gone: fine
    expect(leftovers()).toEqual([])
  })
})
