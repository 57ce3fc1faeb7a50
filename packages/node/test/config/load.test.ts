import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PatinaError } from '@patina/api'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig, parseSetArg, type LoadConfigOptions } from '../../src/config/load.js'
import { CONFIG_KEYS, canonicalName } from '../../src/config/spec.js'
import { CONFIG_DOCS_PATH, renderConfigDocs } from '../../src/config/docs.js'
import { parseClusterKeyFile } from '../../src/config/load.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'patina-config-'))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

function file(name: string, text: string): string {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

function load(opts: LoadConfigOptions = {}) {
  return loadConfig({ env: {}, cwd: dir, ...opts })
}

function errorOf(fn: () => unknown): PatinaError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(PatinaError)
    expect((e as PatinaError).code).toBe('PATINA_ERR_CONFIG_INVALID')
    return e as PatinaError
  }
  throw new Error('expected a PATINA_ERR_CONFIG_INVALID error')
}

describe('defaults', () => {
  it('gives a complete config with derived paths when nothing is set', () => {
    const { config, warnings } = load()
    expect(warnings).toEqual([])
    expect(config.db.path).toBe(join(dir, 'patina/state.db'))
    expect(config.db.subscriptions_path).toBe(join(dir, 'patina/subscriptions'))
    expect(config.admin.path).toBe(join(dir, 'patina/admin.sock'))
    expect(config.api.addr).toEqual(['127.0.0.1:8080'])
    expect(config.api.authorization.tokens).toEqual([])
    expect(config.gossip.cluster_id).toBe(0)
    expect(config.log).toEqual({ format: 'json', level: 'info', colors: true })
  })

  it('deep-freezes the result', () => {
    const { config } = load()
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.gossip)).toBe(true)
    expect(Object.isFrozen(config.api.addr)).toBe(true)
    expect(Object.isFrozen(config.api.limits)).toBe(true)
    expect(() => {
      ;(config.gossip as { cluster_id: number }).cluster_id = 5
    }).toThrow(TypeError)
    expect(() => (config.api.addr as string[]).push('x:1')).toThrow(TypeError)
  })
})

describe("Corrosion's quick-start configs", () => {
  const nodeA = (d: string) => `
# /etc/corrosion/config.toml

[db]
path = "${d}/corrosion/state.db"
schema_paths = ["${d}/corrosion/schema"]

[gossip]
addr = "[::]:8787"
plaintext = true

[api]
addr = "127.0.0.1:8080"

[admin]
path = "${d}/corrosion/admin.sock"
`
  const nodeB = (d: string) => `
[db]
path = "${d}/corrosion-b/state.db"
schema_paths = ["${d}/corrosion-b/schema"]

[gossip]
addr = "[::]:8788"
bootstrap = ["[::1]:8787"] # bootstrap the node's cluster discovery w/ node A
plaintext = true

[api]
addr = "127.0.0.1:8081"

[admin]
path = "${d}/corrosion-b/admin.sock"
`
  it('loads node A unchanged apart from paths', () => {
    const { config, warnings } = load({ configPath: file('a.toml', nodeA(dir)) })
    expect(warnings).toEqual([])
    expect(config.db.path).toBe(`${dir}/corrosion/state.db`)
    expect(config.db.schema_paths).toEqual([`${dir}/corrosion/schema`])
    expect(config.gossip.addr).toBe('[::]:8787')
    expect(config.gossip.plaintext).toBe(true)
    expect(config.api.addr).toEqual(['127.0.0.1:8080'])
    expect(config.admin.path).toBe(`${dir}/corrosion/admin.sock`)
  })

  it('loads node B with its bootstrap list', () => {
    const { config } = load({ configPath: file('b.toml', nodeB(dir)) })
    expect(config.gossip.addr).toBe('[::]:8788')
    expect(config.gossip.bootstrap).toEqual(['[::1]:8787'])
    expect(config.api.addr).toEqual(['127.0.0.1:8081'])
  })

  it('accepts the full reference config, ignoring Corrosion-only keys with warnings', () => {
    const text = `
[db]
path = "state.db"
schema_paths = ["schemas"]
subscriptions_path = "subs"
cache_size_kib = -1048576

[api]
bind_addr = ["127.0.0.1:8080", "[::1]:8080"]
endpoint_name = "corrosion-iad-1"
authz.bearer-token = "secret-token"

[gossip]
bind_addr = "[::]:8787"
external_addr = "1.2.3.4:8787"
client_addr = "[::]:0"
bootstrap = ["10.0.0.2:8787", "app.internal:8787@[fdaa::3]:53"]
plaintext = false
max_mtu = 1372
idle_timeout_secs = 30
member_id = 1

[perf]
apply_channel_len = 2048

[admin]
uds_path = "admin.sock"

[telemetry]
prometheus.addr = "0.0.0.0:9090"

[log]
format = "plaintext"
colors = false
`
    const { config, warnings } = load({ configPath: file('full.toml', text) })
    expect(config.api.addr).toEqual(['127.0.0.1:8080', '[::1]:8080'])
    expect(config.api.authorization.tokens).toEqual([{ token: 'secret-token', role: 'write' }])
    expect(config.api.endpoint_name).toBe('corrosion-iad-1')
    expect(config.gossip.addr).toBe('[::]:8787')
    expect(config.gossip.external_addr).toBe('1.2.3.4:8787')
    expect(config.gossip.bootstrap).toEqual(['10.0.0.2:8787', 'app.internal:8787@[fdaa::3]:53'])
    expect(config.db.path).toBe(join(dir, 'state.db'))
    expect(config.db.schema_paths).toEqual([join(dir, 'schemas')])
    expect(config.db.subscriptions_path).toBe(join(dir, 'subs'))
    expect(config.admin.path).toBe(join(dir, 'admin.sock'))
    expect(config.telemetry.prometheus.addr).toBe('0.0.0.0:9090')
    expect(config.log.format).toBe('pretty')
    expect(config.log.colors).toBe(false)
    expect(warnings).toEqual(
      expect.arrayContaining([
        'db.cache_size_kib is a Corrosion setting Patina does not use; ignored',
        'gossip.max_mtu is a Corrosion setting Patina does not use; ignored',
        '[perf] is a Corrosion section Patina does not use; ignored',
      ]),
    )
    expect(warnings).toHaveLength(6)
  })
})

describe('precedence: defaults < preset < file < environment < flags', () => {
  const toml = `
[gossip]
cluster_id = 1
region = "file"
sync_interval_min_ms = 300
[api]
addr = "127.0.0.1:9001"
`
  it('file overrides the preset, which overrides the defaults', () => {
    const { config, sources } = load({ preset: 'local', configPath: file('c.toml', toml) })
    expect(config.gossip.sync_interval_min_ms).toBe(300) // file beats preset (500)
    expect(config.gossip.suspicion_mult).toBe(3) // preset beats default (4)
    expect(config.gossip.probe_timeout_ms).toBe(200)
    expect(config.gossip.indirect_probes).toBe(3) // default
    expect(sources.get('gossip.sync_interval_min_ms')).toMatch(/^config file /)
    expect(sources.get('gossip.suspicion_mult')).toBe('preset local')
  })

  it('environment overrides the file', () => {
    const { config } = load({
      configPath: file('c.toml', toml),
      env: { PATINA_GOSSIP__CLUSTER_ID: '2', PATINA_API__ADDR: '127.0.0.1:9002', UNRELATED: 'x' },
    })
    expect(config.gossip.cluster_id).toBe(2)
    expect(config.gossip.region).toBe('file')
    expect(config.api.addr).toEqual(['127.0.0.1:9002'])
  })

  it('flags override the environment; later flags win', () => {
    const { config, sources } = load({
      configPath: file('c.toml', toml),
      env: { PATINA_GOSSIP__CLUSTER_ID: '2', PATINA_DB__PATH: 'env.db' },
      overrides: [
        { key: 'gossip.cluster_id', value: '3', source: '--set gossip.cluster_id=3' },
        { key: 'api.addr', value: '127.0.0.1:9003', source: '--api-addr' },
        parseSetArg('gossip.cluster_id=4'),
      ],
    })
    expect(config.gossip.cluster_id).toBe(4)
    expect(config.api.addr).toEqual(['127.0.0.1:9003'])
    expect(config.db.path).toBe(join(dir, 'env.db'))
    expect(sources.get('gossip.cluster_id')).toBe('--set gossip.cluster_id=4')
    expect(sources.get('api.addr')).toBe('--api-addr')
  })

  it('an environment value of a key set by alias in the file overrides it', () => {
    const { config } = load({
      configPath: file('c.toml', '[api]\nbind_addr = "127.0.0.1:1"\n[admin]\nuds_path = "a.sock"\n'),
      env: { PATINA_API__ADDR: '127.0.0.1:2' },
      overrides: [{ key: 'admin.uds_path', value: 'b.sock' }],
    })
    expect(config.api.addr).toEqual(['127.0.0.1:2'])
    expect(config.admin.path).toBe(join(dir, 'b.sock'))
  })
})

describe('environment and flag values', () => {
  it('parses lists as comma lists or JSON', () => {
    const a = load({ env: { PATINA_GOSSIP__BOOTSTRAP: ' 10.0.0.1:8787 , 10.0.0.2:8787 ' } }).config
    expect(a.gossip.bootstrap).toEqual(['10.0.0.1:8787', '10.0.0.2:8787'])
    const b = load({ env: { PATINA_GOSSIP__BOOTSTRAP: '["[::1]:8787","/ip4/127.0.0.1/tcp/4001"]' } }).config
    expect(b.gossip.bootstrap).toEqual(['[::1]:8787', '/ip4/127.0.0.1/tcp/4001'])
    const c = load({ env: { PATINA_GOSSIP__BOOTSTRAP: '' } }).config
    expect(c.gossip.bootstrap).toEqual([])
    const d = load({ env: { PATINA_API__ADDR: '127.0.0.1:1,[::1]:2' } }).config
    expect(d.api.addr).toEqual(['127.0.0.1:1', '[::1]:2'])
  })

  it('parses booleans, numbers with underscores, and JSON token lists', () => {
    const { config } = load({
      env: {
        PATINA_GOSSIP__PLAINTEXT: 'true',
        PATINA_API__LIMITS__BODY_MAX_BYTES: '1_048_576',
        PATINA_API__AUTHORIZATION__TOKENS: '[{"token":"edge-read-token","role":"read"}]',
        PATINA_API__AUTHORIZATION__BEARER_TOKEN: 'writer-token',
      },
    })
    expect(config.gossip.plaintext).toBe(true)
    expect(config.api.limits.body_max_bytes).toBe(1_048_576)
    expect(config.api.authorization.tokens).toEqual([
      { token: 'writer-token', role: 'write' },
      { token: 'edge-read-token', role: 'read' },
    ])
  })

  it('warns about PATINA_ variables that name no key, with a hint', () => {
    const { warnings } = load({ env: { PATINA_GOSSIP__CLUSTR_ID: '1', PATINA_CONFIG: 'x' } })
    expect(warnings).toEqual([
      'environment variable PATINA_GOSSIP__CLUSTR_ID names no configuration key; ignored (did you mean PATINA_GOSSIP__CLUSTER_ID?)',
    ])
  })

  it('maps every key to one PATINA_ variable', () => {
    const envs = CONFIG_KEYS.map((k) => k.env)
    expect(new Set(envs).size).toBe(envs.length)
    expect(envs).toContain('PATINA_API__ADDR')
    expect(envs).toContain('PATINA_DB__PATH')
    expect(envs).toContain('PATINA_TELEMETRY__PROMETHEUS__ADDR')
    expect(envs).toContain('PATINA_API__AUTHORIZATION__BEARER_TOKEN')
  })

  it('resolves aliases in dotted names', () => {
    expect(canonicalName('api.bind_addr')).toBe('api.addr')
    expect(canonicalName('gossip.bind_addr')).toBe('gossip.addr')
    expect(canonicalName('admin.uds_path')).toBe('admin.path')
    expect(canonicalName('api.authz.bearer')).toBe('api.authorization.bearer-token')
  })

  it('reads the cluster key from a file in either format', () => {
    const hex = 'ab'.repeat(32)
    expect(parseClusterKeyFile(`${hex}\n`)).toBe(hex)
    expect(parseClusterKeyFile(`/key/swarm/psk/1.0.0/\n/base16/\n${hex.toUpperCase()}\n`)).toBe(hex)
    expect(parseClusterKeyFile('nope')).toBeNull()
    const keyFile = file('swarm.key', `/key/swarm/psk/1.0.0/\n/base16/\n${hex}\n`)
    const { config } = load({ configPath: file('k.toml', `[gossip]\ncluster_key_file = "${keyFile}"\n`) })
    expect(config.gossip.cluster_key).toBe(hex)
    expect(config.gossip.cluster_key_file).toBe(keyFile)
  })
})

describe('documented error messages', () => {
  const cases: [string, LoadConfigOptions, string][] = [
    [
      'a number above its maximum',
      { env: { PATINA_GOSSIP__CLUSTER_ID: '70000' } },
      'gossip.cluster_id value 70000 is above maximum 65535 (from environment variable PATINA_GOSSIP__CLUSTER_ID)',
    ],
    [
      'a number below its minimum',
      { overrides: [{ key: 'gossip.sync_peers', value: '0', source: '--set gossip.sync_peers=0' }] },
      'gossip.sync_peers value 0 is below minimum 1 (from --set gossip.sync_peers=0)',
    ],
    [
      'text where an integer is expected',
      { env: { PATINA_GOSSIP__CLUSTER_ID: 'abc' } },
      'gossip.cluster_id value "abc" is not a number (allowed: integer (0 to 65_535)) (from environment variable PATINA_GOSSIP__CLUSTER_ID)',
    ],
    [
      'a fraction where an integer is expected',
      { env: { PATINA_GOSSIP__SYNC_PEERS: '1.5' } },
      'gossip.sync_peers value 1.5 is not an integer (allowed: integer (1 to 64)) (from environment variable PATINA_GOSSIP__SYNC_PEERS)',
    ],
    [
      'a bad HTTP address',
      { overrides: [{ key: 'api.addr', value: 'localhost', source: '--api-addr' }] },
      'api.addr[0] value "localhost" is not a host:port address such as "127.0.0.1:8080" or "[::]:8080" (from --api-addr)',
    ],
    [
      'a bad gossip address',
      { env: { PATINA_GOSSIP__ADDR: '8787' } },
      'gossip.addr value "8787" is not a host:port address such as "[::]:8787" or a TCP multiaddr such as "/ip4/127.0.0.1/tcp/8787" (from environment variable PATINA_GOSSIP__ADDR)',
    ],
    [
      'a port above 65535',
      { env: { PATINA_API__ADDR: '127.0.0.1:70000' } },
      'api.addr[0] value "127.0.0.1:70000" is not a host:port address such as "127.0.0.1:8080" or "[::]:8080" (from environment variable PATINA_API__ADDR)',
    ],
    [
      'an unknown enum value',
      { env: { PATINA_LOG__FORMAT: 'xml' } },
      'log.format value "xml" is not one of "json", "pretty", "plaintext" (from environment variable PATINA_LOG__FORMAT)',
    ],
    [
      'an empty path',
      { env: { PATINA_DB__PATH: '' } },
      'db.path value "" must not be empty (from environment variable PATINA_DB__PATH)',
    ],
    [
      'a malformed cluster key',
      { env: { PATINA_GOSSIP__CLUSTER_KEY: 'zz' } },
      'gossip.cluster_key value "zz" is not a key of 64 hex characters (32 bytes) (from environment variable PATINA_GOSSIP__CLUSTER_KEY)',
    ],
    [
      'an unknown --set key',
      { overrides: [parseSetArg('gossip.clustr_id=3')] },
      'gossip.clustr_id (from --set gossip.clustr_id=3) is not a configuration key; did you mean gossip.cluster_id?',
    ],
    [
      'a --set without =',
      { overrides: [] },
      '', // checked separately below
    ],
  ]
  for (const [what, opts, message] of cases) {
    if (message === '') continue
    it(`names key, value and what is allowed for ${what}`, () => {
      expect(errorOf(() => load(opts)).message).toBe(message)
    })
  }

  it('rejects --set without =', () => {
    expect(errorOf(() => parseSetArg('gossip.cluster_id')).message).toBe(
      '--set value "gossip.cluster_id" is not of the form key=value (for example --set gossip.cluster_id=3)',
    )
  })

  it('reports a file value with the file it came from', () => {
    const p = file('bad.toml', '[gossip]\ncluster_id = 70000\n')
    expect(errorOf(() => load({ configPath: p })).message).toBe(
      `gossip.cluster_id value 70000 is above maximum 65535 (from config file ${p})`,
    )
  })

  it('lists every problem at once', () => {
    const p = file('bad.toml', '[gossip]\ncluster_id = -1\n[log]\nlevel = "loud"\n')
    const msg = errorOf(() => load({ configPath: p })).message
    expect(msg).toMatch(/^invalid configuration: /)
    expect(msg).toContain('gossip.cluster_id value -1 is below minimum 0')
    expect(msg).toContain('log.level value "loud" is not one of "fatal", "error"')
  })

  it('rejects unknown keys and sections with a hint', () => {
    const p = file('bad.toml', '[gossip]\nbootstrapp = []\n')
    expect(errorOf(() => load({ configPath: p })).message).toBe(
      'gossip.bootstrapp is not a known key; did you mean gossip.bootstrap?',
    )
    const q = file('bad2.toml', '[gosip]\naddr = "[::]:1"\n')
    expect(errorOf(() => load({ configPath: q })).message).toBe(
      '[gosip] is not a known section (known sections: db, gossip, api, admin, telemetry, log)',
    )
  })

  it('rejects a wrong TOML type', () => {
    const p = file('bad.toml', '[gossip]\nplaintext = "yes"\n')
    expect(errorOf(() => load({ configPath: p })).message).toBe(
      `gossip.plaintext value "yes" is not a boolean (from config file ${p})`,
    )
  })

  it('rejects bad tokens', () => {
    const p = file('bad.toml', '[api.authorization]\ntokens = [{ token = "edge-token-1", role = "admin" }]\n')
    expect(errorOf(() => load({ configPath: p })).message).toBe(
      `api.authorization.tokens[0].role value "admin" is not one of "read", "write" (from config file ${p})`,
    )
  })

  it('rejects invalid TOML with line and column', () => {
    const p = file('bad.toml', '[db]\npath = \n')
    expect(errorOf(() => load({ configPath: p })).message).toMatch(
      new RegExp(`^config file ${p} is not valid TOML: .* \\(line 2, column \\d+\\)$`),
    )
  })

  it('rejects a missing config file', () => {
    expect(errorOf(() => load({ configPath: 'nope.toml' })).message).toBe(
      `config file ${join(dir, 'nope.toml')} does not exist`,
    )
  })

  it('rejects an alias and its key in the same file', () => {
    const p = file('bad.toml', '[api]\naddr = "127.0.0.1:1"\nbind_addr = "127.0.0.1:2"\n')
    expect(errorOf(() => load({ configPath: p })).message).toBe(
      `api.bind_addr and api.addr are the same key (alias) and are both set in config file ${p}; set only one`,
    )
  })

  it('rejects both cluster_key and cluster_key_file', () => {
    const p = file('bad.toml', `[gossip]\ncluster_key = "${'a'.repeat(64)}"\ncluster_key_file = "k"\n`)
    expect(errorOf(() => load({ configPath: p })).message).toBe(
      `gossip.cluster_key and gossip.cluster_key_file are both set (from config file ${p}); set only one`,
    )
  })

  it('rejects an unreadable or malformed cluster key file', () => {
    expect(errorOf(() => load({ env: { PATINA_GOSSIP__CLUSTER_KEY_FILE: 'missing.key' } })).message).toMatch(
      /^gossip\.cluster_key_file value "missing\.key" cannot be read: ENOENT.*\(from environment variable PATINA_GOSSIP__CLUSTER_KEY_FILE\)$/,
    )
    file('bad.key', 'not a key')
    expect(errorOf(() => load({ env: { PATINA_GOSSIP__CLUSTER_KEY_FILE: 'bad.key' } })).message).toBe(
      'gossip.cluster_key_file value "bad.key" does not hold a key: expected 64 hex characters or a libp2p swarm.key (from environment variable PATINA_GOSSIP__CLUSTER_KEY_FILE)',
    )
  })

  it('rejects a minimum sync interval above the maximum', () => {
    expect(errorOf(() => load({ env: { PATINA_GOSSIP__SYNC_INTERVAL_MIN_MS: '20000' } })).message).toBe(
      'gossip.sync_interval_min_ms value 20000 is above gossip.sync_interval_max_ms (15000) (from environment variable PATINA_GOSSIP__SYNC_INTERVAL_MIN_MS)',
    )
  })

  it('rejects an admin socket path too long for a Unix socket', () => {
    const long = '/tmp/' + 'x'.repeat(120) + '/admin.sock'
    expect(errorOf(() => load({ env: { PATINA_ADMIN__PATH: long } })).message).toBe(
      `admin.path value "${long}" is ${long.length} bytes long; Unix socket paths are limited to 103 bytes (from environment variable PATINA_ADMIN__PATH)`,
    )
  })
})

describe('docs/config.md', () => {
  it('is generated from the schema (run `pnpm docs:config` after changing the schema)', () => {
    const committed = readFileSync(CONFIG_DOCS_PATH, 'utf8')
    expect(committed).toBe(renderConfigDocs())
  })

  it('documents every key with its environment variable', () => {
    const doc = renderConfigDocs()
    for (const k of CONFIG_KEYS) {
      expect(doc).toContain(`\`${k.name}\``)
      expect(doc).toContain(`\`${k.env}\``)
    }
  })
})

describe('example configs in deploy/config', () => {
  it('all load without warnings', () => {
    const exampleDir = new URL('../../../../deploy/config/', import.meta.url)
    const names = ['node.toml', 'corrosion-quickstart-a.toml', 'corrosion-quickstart-b.toml']
    mkdirSync(join(dir, 'keys'), { recursive: true })
    for (const n of names) {
      const { warnings } = loadConfig({ configPath: new URL(n, exampleDir).pathname, env: {}, cwd: dir })
      expect(warnings, n).toEqual([])
    }
  })
})
