import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadEdgeConfig, parseEdgeConfig } from '../src/config.js'
import { parseLookupKey } from '../src/routes.js'

const MINIMAL = `
workers = ["http://127.0.0.1:8080", "127.0.0.1:8081"]

[[queries]]
name = "routes"
sql = "SELECT host, backend FROM routes WHERE region = ?"
params = ["eu"]
key = ["host"]
`

function configError(toml: string): string {
  try {
    parseEdgeConfig(toml)
  } catch (err) {
    expect((err as { code?: string }).code).toBe('PATINA_ERR_CONFIG_INVALID')
    return (err as Error).message
  }
  throw new Error('expected a config error')
}

describe('edge config', () => {
  it('fills in defaults and freezes the result', () => {
    const c = parseEdgeConfig(MINIMAL)
    expect(c).toMatchObject({
      workers: ['http://127.0.0.1:8080', '127.0.0.1:8081'],
      discover: false,
      listen: '127.0.0.1:8900',
      persist_interval_ms: 1000,
      stale_after_ms: 10000,
      probe_interval_ms: 2000,
      queries: [{ name: 'routes', params: ['eu'], key: ['host'] }],
    })
    expect(c.token).toBeUndefined()
    expect(c.state_file).toBeUndefined()
    expect(Object.isFrozen(c.queries[0])).toBe(true)
  })

  it('accepts named parameters and every optional key', () => {
    const c = parseEdgeConfig(`
workers = ["http://w:1"]
discover = true
token = "t"
listen = "[::1]:0"
state_file = "/tmp/x.json"
stale_after_ms = 500
[[queries]]
name = "by-region_2"
sql = "SELECT * FROM routes WHERE region = :r"
params = { ":r" = "eu" }
key = ["host", "port"]
`)
    expect(c.queries[0]?.params).toEqual({ ':r': 'eu' })
    expect(c.listen).toBe('[::1]:0')
  })

  it.each([
    ['a missing key', 'workers = ["http://a:1"]', /key queries missing is invalid/],
    [
      'an empty worker list',
      MINIMAL.replace(/workers = .*/, 'workers = []'),
      /key workers value \[\] is invalid: must list at least one worker URL/,
    ],
    ['a wrong type', 'stale_after_ms = "soon"\n' + MINIMAL, /key stale_after_ms value "soon" is invalid/],
    [
      'a negative interval',
      'probe_interval_ms = -5\n' + MINIMAL,
      /key probe_interval_ms value -5 is invalid/,
    ],
    [
      'a bad listen address',
      'listen = "8900"\n' + MINIMAL,
      /key listen value "8900" is invalid: must be host:port/,
    ],
    [
      'a port out of range',
      'listen = "127.0.0.1:99999"\n' + MINIMAL,
      /key listen value "127.0.0.1:99999" is invalid: port must be 0..65535/,
    ],
    [
      'an unknown top-level key',
      'colour = "red"\n' + MINIMAL,
      /unknown key colour; allowed: workers, discover, token, listen, state_file/,
    ],
    [
      'an unknown query key',
      MINIMAL + 'keys = ["x"]',
      /unknown key queries\[0\]\.keys; allowed: name, sql, params, key/,
    ],
    [
      'an empty key list',
      MINIMAL.replace('key = ["host"]', 'key = []'),
      /key queries\[0\]\.key value \[\] is invalid: must name at least one column/,
    ],
    [
      'a bad query name',
      MINIMAL.replace('name = "routes"', 'name = "a/b"'),
      /key queries\[0\]\.name value "a\/b" is invalid/,
    ],
    [
      'a bad named parameter',
      MINIMAL.replace('params = ["eu"]', 'params = { r = "eu" }'),
      /queries\[0\]\.params/,
    ],
    [
      'duplicate query names',
      MINIMAL + MINIMAL.slice(MINIMAL.indexOf('[[queries]]')),
      /key queries\[1\]\.name value "routes" is invalid: is already used/,
    ],
    ['invalid TOML', 'workers = [', /not valid TOML/],
    [
      'neither queries nor templates',
      'workers = ["http://w:1"]',
      /key queries missing is invalid: must define at least one \[\[queries\]\] table \(or a \[\[templates\]\] table\)/,
    ],
    [
      'a template without dst',
      'workers = ["http://w:1"]\n[[templates]]\nsrc = "a.eta"',
      /key templates\[0\]\.dst missing is invalid/,
    ],
    [
      'an unknown template key',
      'workers = ["http://w:1"]\n[[templates]]\nsrc = "a.eta"\ndst = "/tmp/a"\ncommand = "x"',
      /unknown key templates\[0\]\.command; allowed: src, dst, cmd, name/,
    ],
    [
      'two templates writing the same file',
      'workers = ["http://w:1"]\n[[templates]]\nsrc = "a.eta"\ndst = "/tmp/a"\n[[templates]]\nsrc = "b.eta"\ndst = "/tmp/a"',
      /key templates\[1\]\.dst value "\/tmp\/a" is invalid: is already used by another template/,
    ],
  ])('rejects %s with a message naming the key, value and what is allowed', (_name, toml, re) => {
    expect(configError(toml)).toMatch(re)
  })

  it('accepts templates alone (no queries), with their defaults', () => {
    const c = parseEdgeConfig(
      'workers = ["http://w:1"]\n[[templates]]\nsrc = "up.eta"\ndst = "/etc/nginx/up.conf"\ncmd = "nginx -s reload"\n',
    )
    expect(c.queries).toEqual([])
    expect(c.templates).toEqual([{ src: 'up.eta', dst: '/etc/nginx/up.conf', cmd: 'nginx -s reload' }])
    expect(c).toMatchObject({
      template_debounce_ms: 100,
      template_max_delay_ms: 1000,
      template_command_timeout_ms: 30000,
    })
  })

  it('loads a file and names it in errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patina-edge-config-'))
    try {
      const p = join(dir, 'edge.toml')
      writeFileSync(p, MINIMAL)
      expect((await loadEdgeConfig(p)).queries).toHaveLength(1)
      writeFileSync(p, 'workers = 5')
      await expect(loadEdgeConfig(p)).rejects.toThrow(new RegExp(`edge config ${p}: key workers value 5`))
      await expect(loadEdgeConfig(join(dir, 'nope.toml'))).rejects.toThrow(/cannot read edge config file/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('parseLookupKey', () => {
  it.each([
    [{ key: 'a.example' }, ['host'], ['a.example']],
    [{ key: 'a,b' }, ['host'], ['a,b']], // single column: commas are part of the value
    [{ key: ['a', '443'] }, ['host', 'port'], ['a', '443']],
    [{ key: 'a,443' }, ['host', 'port'], ['a', '443']],
    [{ key: ['a,443'] }, ['host', 'port'], ['a', '443']],
    [{ host: 'a', port: '443' }, ['host', 'port'], ['a', '443']],
  ])('%j with key columns %j gives %j', (raw, cols, expected) => {
    expect(parseLookupKey(raw, cols)).toEqual(expected)
  })
  it.each([
    [{}, ['host']],
    [{ key: ['a', 'b'] }, ['host']],
    [{ key: 'a' }, ['host', 'port']],
    [{ key: 'a,b,c' }, ['host', 'port']],
    [{ host: 'a' }, ['host', 'port']],
  ])('%j with key columns %j is PATINA_ERR_PARAM_INVALID', (raw, cols) => {
    expect(() => parseLookupKey(raw, cols)).toThrow(/does not match the key columns/)
  })
})
