/** `patina agent` and `patina edge`: config validation, start, and stop on shutdown. */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { StartAgent } from '../../src/cli/context.js'
import type { PatinaConfig } from '../../src/config/schema.js'
import { cliTestState, run } from './helpers.js'

const t = cliTestState()

describe('agent and edge', () => {
  it('agent validates the config, starts, and stops on shutdown', async () => {
    const started: PatinaConfig[] = []
    let stopped = 0
    const startAgent: StartAgent = async (config) => {
      started.push(config)
      return {
        apiUrl: 'http://127.0.0.1:1',
        stop: async () => {
          stopped++
        },
      }
    }
    const ctl = new AbortController()
    ctl.abort('SIGTERM')
    const r = await run(['--db-path', join(t.dir, 'x.db'), '--set', 'log.level=silent', 'agent'], {
      cwd: t.dir,
      startAgent,
      shutdown: ctl.signal,
    })
    expect(r.code).toBe(0)
    expect(started).toHaveLength(1)
    expect(started[0]?.db.path).toBe(join(t.dir, 'x.db'))
    expect(Object.isFrozen(started[0])).toBe(true)
    expect(stopped).toBe(1)
  })

  it('agent refuses an invalid config before starting', async () => {
    let calls = 0
    const r = await run(['--set', 'log.format=xml', 'agent'], {
      cwd: t.dir,
      startAgent: async () => {
        calls++
        return { apiUrl: '', stop: async () => {} }
      },
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('log.format value "xml" is not one of "json", "pretty", "plaintext"')
    expect(calls).toBe(0)
  })

  it('edge runs the edge daemon with the -c path until shutdown', async () => {
    const got: string[] = []
    let stopped = 0
    const ctl = new AbortController()
    const r = await run(['-c', 'edge.toml', 'edge'], {
      cwd: t.dir,
      shutdown: ctl.signal,
      stdout: { write: () => true },
      runEdge: async (p) => {
        got.push(p)
        setImmediate(() => ctl.abort('SIGTERM'))
        return {
          stop: async () => {
            stopped++
          },
        }
      },
    })
    expect(r.code).toBe(0)
    expect(got).toEqual(['edge.toml'])
    expect(stopped).toBe(1)
  })

  it('edge needs a config file', async () => {
    const r = await run(['edge'], { cwd: t.dir, runEdge: async () => ({ stop: async () => {} }) })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('patina edge needs its config file: patina -c edge.toml edge')
  })
})
