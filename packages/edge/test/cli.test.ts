/** `patina-edge` from its sources: arguments, and bad configs named in the message. */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const cli = join(root, 'packages/edge/src/cli.ts')
const dir = mkdtempSync(join(tmpdir(), 'patina-edge-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', cli, ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('patina-edge', () => {
  it('prints its usage and version', () => {
    expect(run('--help')).toMatchObject({ code: 0, stdout: expect.stringContaining('usage: patina-edge -c') })
    expect(run('--version')).toMatchObject({ code: 0, stdout: '0.1.0\n' })
  })

  it('needs -c, and refuses unknown options (exit 2)', () => {
    expect(run()).toMatchObject({ code: 2, stderr: expect.stringContaining('the config file is required') })
    expect(run('--nope')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("Unknown option '--nope'"),
    })
  })

  it('names the file, the key, the value and what is allowed in a bad config (exit 1)', () => {
    const p = join(dir, 'bad.toml')
    writeFileSync(
      p,
      'workers = ["http://127.0.0.1:1"]\nlisten = "8900"\nstale_after_ms = -1\n[[queries]]\nname = "r"\nsql = "SELECT 1"\nkeys = ["a"]\n',
    )
    const r = run('-c', p)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`edge config ${p}:`)
    expect(r.stderr).toContain('key listen value "8900" is invalid: must be host:port')
    expect(r.stderr).toContain('key stale_after_ms value -1 is invalid')
    expect(r.stderr).toContain('unknown key queries[0].keys; allowed: name, sql, params, key')
    expect(run('-c', join(dir, 'absent.toml'))).toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`cannot read edge config file ${join(dir, 'absent.toml')}`),
    })
  })
})
