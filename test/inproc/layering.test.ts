/**
 * The import rules of docs/architecture.md are lint rules: each forbidden import, placed in a file
 * of the layer that may not have it, is reported; the allowed places pass.
 */
import { ESLint } from 'eslint'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/process.js'

const eslint = new ESLint({ cwd: ROOT })

async function restricted(file: string, module: string): Promise<boolean> {
  const [result] = await eslint.lintText(`import '${module}'\n`, { filePath: `${ROOT}${file}` })
  return (result?.messages ?? []).some((m) => m.ruleId === 'no-restricted-imports')
}

describe('layering lint rules', () => {
  it.each([
    ['packages/core/src/subs/x.ts', '@patina/node'],
    ['packages/core/src/crdt/x.ts', 'better-sqlite3'],
    ['packages/core/src/store/x.ts', 'libp2p'],
    ['packages/api/src/x.ts', '@patina/client'],
    ['packages/node/src/membership/x.ts', '@libp2p/tcp'],
    ['packages/node/src/api/x.ts', 'better-sqlite3'],
    ['packages/node/src/x.ts', '@patina/edge'],
    ['packages/client/src/x.ts', '@patina/core'],
    ['packages/edge/src/x.ts', 'libp2p'],
    ['packages/template/src/x.ts', '@patina/core'],
    ['packages/template/src/x.ts', 'better-sqlite3'],
    ['packages/template/src/x.ts', '@patina/edge'],
    ['packages/node/src/x.ts', '@patina/core/src/engine.js'],
  ])('%s may not import %s', async (file, module) => {
    expect(await restricted(file, module)).toBe(true)
  })

  it.each([
    ['packages/core/src/store/x.ts', 'better-sqlite3'],
    ['packages/node/src/transport/libp2p.ts', '@libp2p/tcp'],
    ['packages/node/src/x.ts', '@patina/core'],
    ['packages/node/src/cli/x.ts', '@patina/client'],
    ['packages/client/src/x.ts', '@patina/api'],
    ['packages/template/src/x.ts', '@patina/client'],
    ['packages/edge/src/x.ts', '@patina/template'],
  ])('%s may import %s', async (file, module) => {
    expect(await restricted(file, module)).toBe(false)
  })
})
