/**
 * When the checkout is a mount point (a devcontainer, some CI runners), pnpm puts its store in
 * `.pnpm-store/` inside it. Every tool of the test command that walks the tree must leave it
 * alone: a store full of foreign JavaScript and JSON made `pnpm test` fail at lint.
 *
 * The test puts such files (which fail lint and formatting) in `.pnpm-store/` and asks each
 * tool whether it would read them.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { ESLint } from 'eslint'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/process.js'

const store = join(ROOT, '.pnpm-store')
const storeExisted = existsSync(store)
// Our own folder inside the store, so that a real store in this checkout is left untouched.
const mine = join(store, `patina-test-${process.pid}`)
const files = {
  js: join(mine, 'files/00/bad.js'),
  ts: join(mine, 'files/00/bad.ts'),
  json: join(mine, 'index/ab/cd-index.json'),
}

beforeAll(() => {
  mkdirSync(join(mine, 'files/00'), { recursive: true })
  mkdirSync(join(mine, 'index/ab'), { recursive: true })
  writeFileSync(files.js, 'const x = ;\n')
  writeFileSync(files.ts, 'let y: = 1\n')
  writeFileSync(files.json, '{"a":1,   "b":\n')
})

afterAll(() => {
  rmSync(storeExisted ? mine : store, { recursive: true, force: true })
})

const prettier = (...args: string[]) =>
  spawnSync(process.execPath, [join(ROOT, 'node_modules/prettier/bin/prettier.cjs'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  })

describe('a pnpm store inside the checkout', () => {
  it('is ignored by ESLint', async () => {
    const eslint = new ESLint({ cwd: ROOT })
    expect(await eslint.isPathIgnored(files.js)).toBe(true)
    expect(await eslint.isPathIgnored(files.ts)).toBe(true)
    // the same kind of file of ours is linted
    expect(await eslint.isPathIgnored(join(ROOT, 'packages/node/src/runtime/log.ts'))).toBe(false)
  })

  it('is ignored by Prettier (which would reject its files otherwise)', () => {
    const dir = relative(ROOT, mine)
    const checked = prettier('--check', dir)
    expect(checked.status, checked.stdout + checked.stderr).toBe(0)
    const unignored = prettier('--check', '--ignore-path', '', dir)
    expect(unignored.status, 'without the ignore files Prettier must fail on these files').not.toBe(0)
  })

  it('is ignored by git and by the Docker build context', () => {
    const inWorkTree = spawnSync('git', ['rev-parse', '--is-inside-work-tree'], {
      cwd: ROOT,
      encoding: 'utf8',
    })
    if (inWorkTree.stdout?.trim() === 'true') {
      const git = spawnSync('git', ['check-ignore', '-q', files.json], { cwd: ROOT })
      expect(git.status).toBe(0)
    } else {
      // no git here (a copied checkout, a container with Node only): the rule itself
      expect(readFileSync(join(ROOT, '.gitignore'), 'utf8').split('\n')).toContain('.pnpm-store/')
    }
    const docker = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n')
    expect(docker).toContain('.pnpm-store')
  })

  it('is outside what the type check compiles', () => {
    const read = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (p) => ts.sys.readFile(p))
    const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT)
    expect(parsed.fileNames.length).toBeGreaterThan(100)
    expect(parsed.fileNames.filter((f) => f.includes('/.pnpm-store/'))).toEqual([])
  })
})
