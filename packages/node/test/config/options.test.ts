import { describe, expect, it } from 'vitest'
import { DEFAULT_API_OPTIONS } from '../../src/api/options.js'
import { DEFAULT_SERVER_LIMITS } from '../../src/api/server.js'
import { resolveClusterTuning } from '../../src/runtime/cluster.js'
import { DEFAULT_SUBSCRIPTION_HUB_OPTIONS } from '../../src/subs/hub.js'
import { loadConfig, type ConfigOverride } from '../../src/config/load.js'
import { componentOptionsFrom, type ComponentOptions } from '../../src/config/options.js'
import { PRESETS, PRESET_NAMES, TUNED_KEYS, presetConfig, tunedValue } from '../../src/config/presets.js'
import { CONFIG_KEYS } from '../../src/config/spec.js'

const CWD = '/srv/patina'
const load = (overrides: ConfigOverride[] = []) => loadConfig({ env: {}, cwd: CWD, overrides }).config
const options = (overrides: ConfigOverride[] = []) => componentOptionsFrom(load(overrides))

/** `a.b.c` of the component options. */
function at(o: ComponentOptions, path: string): unknown {
  let v: unknown = o
  for (const seg of path.split('.')) v = (v as Record<string, unknown> | undefined)?.[seg]
  return v
}

const KEY = 'ab'.repeat(32)

/**
 * Every configuration key that reaches a component: the value set (as a `--set` flag would)
 * and where it must land in `componentOptionsFrom`. Values differ from the defaults, so a key
 * that is dropped or mapped to the wrong option fails its row.
 */
const ROWS: { key: string; value: unknown; lands: [path: string, expected: unknown][] }[] = [
  {
    key: 'db.path',
    value: '/data/x/state.db',
    lands: [
      ['engine.path', '/data/x/state.db'],
      ['transport.identityPath', '/data/x/node.key'],
      ['cluster.membersPath', '/data/x/members.json'],
      ['files.membersPath', '/data/x/members.json'],
      ['subscriptionsDbPath', '/data/x/subscriptions/subscriptions.db'],
    ],
  },
  { key: 'db.read_threads', value: 3, lands: [['engine.readThreads', 3]] },
  { key: 'db.synchronous', value: 'FULL', lands: [['engine.synchronous', 'FULL']] },
  { key: 'db.own_history_wait_ms', value: 1234, lands: [['ownHistory.waitMs', 1234]] },
  { key: 'db.local_tables', value: 'a,b_*', lands: [['engine.localTables', ['a', 'b_*']]] },
  {
    key: 'db.subscriptions_path',
    value: '/subs',
    lands: [['subscriptionsDbPath', '/subs/subscriptions.db']],
  },
  { key: 'gossip.addr', value: '[::]:9787', lands: [['transport.listen', ['[::]:9787']]] },
  { key: 'gossip.external_addr', value: '10.0.0.1:8787', lands: [['transport.announce', ['10.0.0.1:8787']]] },
  { key: 'gossip.bootstrap', value: '10.0.0.2:8787', lands: [['cluster.bootstrap', ['10.0.0.2:8787']]] },
  { key: 'gossip.cluster_id', value: '7', lands: [['cluster.clusterId', '7']] },
  { key: 'gossip.cluster_key', value: KEY.toUpperCase(), lands: [['transport.clusterKey', KEY]] },
  { key: 'gossip.region', value: 'fra', lands: [['cluster.region', 'fra']] },
  { key: 'gossip.preset', value: 'local', lands: [['cluster.preset', PRESETS.local]] },
  { key: 'gossip.sync_interval_min_ms', value: 900, lands: [['cluster.sync.minIntervalMs', 900]] },
  { key: 'gossip.sync_interval_max_ms', value: 9000, lands: [['cluster.sync.maxIntervalMs', 9000]] },
  { key: 'gossip.sync_peers', value: 5, lands: [['cluster.sync.peersPerRound', 5]] },
  { key: 'gossip.sync_chunk_max_bytes', value: 9999, lands: [['cluster.sync.maxChunkBytes', 9999]] },
  { key: 'gossip.sync_timeout_ms', value: 7777, lands: [['cluster.sync.idleTimeoutMs', 7777]] },
  { key: 'gossip.broadcast_batch_delay_ms', value: 9, lands: [['cluster.broadcast.maxBatchDelayMs', 9]] },
  {
    key: 'gossip.broadcast_batch_max_bytes',
    value: 5555,
    lands: [['cluster.broadcast.maxBatchBytes', 5555]],
  },
  {
    key: 'gossip.message_max_bytes',
    value: 65_536,
    lands: [
      ['cluster.membership.maxMessageBytes', 65_536],
      ['cluster.broadcast.maxMessageBytes', 65_536],
      // twice: an oversized message must reach our validation and its counter
      ['transport.maxMessageBytes', 131_072],
      ['engine.maxChunkBytes', 16_384],
    ],
  },
  { key: 'gossip.probe_interval_ms', value: 700, lands: [['cluster.membership.probeIntervalMs', 700]] },
  { key: 'gossip.probe_timeout_ms', value: 300, lands: [['cluster.membership.probeTimeoutMs', 300]] },
  { key: 'gossip.indirect_probes', value: 0, lands: [['cluster.membership.indirectProbes', 0]] },
  { key: 'gossip.suspicion_mult', value: 6, lands: [['cluster.membership.suspicionMult', 6]] },
  { key: 'gossip.isolation_after_ms', value: 4444, lands: [['cluster.membership.isolationAfterMs', 4444]] },
  {
    key: 'api.addr',
    value: '127.0.0.2:9000,[::1]:9001',
    lands: [
      [
        'apiListeners',
        [
          { addr: '127.0.0.2:9000', host: '127.0.0.2', port: 9000 },
          { addr: '[::1]:9001', host: '::1', port: 9001 },
        ],
      ],
    ],
  },
  { key: 'api.endpoint_name', value: 'edge-a', lands: [['api.endpointName', 'edge-a']] },
  {
    key: 'api.authorization.bearer-token',
    value: 'writer-token',
    lands: [['api.tokens', [{ token: 'writer-token', role: 'write' }]]],
  },
  {
    key: 'api.authorization.tokens',
    value: '[{"token":"reader-token","role":"read"}]',
    lands: [['api.tokens', [{ token: 'reader-token', role: 'read' }]]],
  },
  { key: 'api.limits.body_max_bytes', value: 2048, lands: [['api.bodyLimitBytes', 2048]] },
  { key: 'api.limits.statements_per_tx_max', value: 9, lands: [['api.maxStatementsPerTransaction', 9]] },
  { key: 'api.limits.query_timeout_secs', value: 7, lands: [['api.defaultQueryTimeoutSec', 7]] },
  {
    key: 'api.limits.timeout_max_secs',
    value: 2,
    lands: [
      ['api.maxTimeoutSec', 2],
      // subscription statements: the shorter of the two deadlines
      ['hub.statementMaxMs', 400],
    ],
  },
  {
    key: 'api.limits.main_thread_max_ms',
    value: 150,
    lands: [
      ['api.mainThreadMaxMs', 150],
      ['hub.statementMaxMs', 150],
    ],
  },
  { key: 'api.limits.transactions_per_group_max', value: 5, lands: [['api.maxTransactionsPerGroup', 5]] },
  { key: 'api.limits.wait_timeout_default_ms', value: 77, lands: [['api.defaultWaitTimeoutMs', 77]] },
  { key: 'api.limits.wait_timeout_max_ms', value: 777, lands: [['api.maxWaitTimeoutMs', 777]] },
  {
    key: 'api.limits.stream_buffer_max_bytes',
    value: 100_000,
    lands: [['api.maxStreamBufferBytes', 100_000]],
  },
  { key: 'api.limits.header_timeout_ms', value: 1234, lands: [['apiServer.headerTimeoutMs', 1234]] },
  { key: 'api.limits.body_timeout_ms', value: 2345, lands: [['apiServer.bodyTimeoutMs', 2345]] },
  { key: 'api.limits.idle_timeout_ms', value: 3456, lands: [['apiServer.idleTimeoutMs', 3456]] },
  {
    key: 'api.limits.connections_per_address_max',
    value: 12,
    lands: [['apiServer.connectionsPerAddressMax', 12]],
  },
  { key: 'api.limits.http2_max_streams', value: 13, lands: [['apiServer.http2MaxStreams', 13]] },
  ...(['transactions', 'queries', 'subscriptions', 'updates', 'table_stats', 'health'] as const).map(
    (k, i) => ({
      key: `api.concurrency.${k}`,
      value: 100 + i,
      lands: [[`api.concurrency.${k}`, 100 + i]] as [string, unknown][],
    }),
  ),
  { key: 'api.subscriptions.retention_changes', value: 500, lands: [['hub.retainChanges', 500]] },
  { key: 'api.subscriptions.retention_ms', value: 5000, lands: [['hub.retainMs', 5000]] },
  { key: 'api.subscriptions.idle_timeout_ms', value: 6000, lands: [['hub.idleMs', 6000]] },
  { key: 'api.subscriptions.rerun_max_rows', value: 50, lands: [['hub.rerunMaxRows', 50]] },
  { key: 'api.subscriptions.rerun_max_ms', value: 60, lands: [['hub.rerunMaxMs', 60]] },
  { key: 'api.subscriptions.sql_max_bytes', value: 4096, lands: [['hub.sqlMaxBytes', 4096]] },
  { key: 'api.subscriptions.rerun_max_share', value: 0.5, lands: [['hub.rerunMaxShare', 0.5]] },
  { key: 'admin.path', value: '/run/p.sock', lands: [['adminPath', '/run/p.sock']] },
  {
    key: 'telemetry.prometheus.addr',
    value: '127.0.0.1:9090',
    lands: [['metricsListener', { host: '127.0.0.1', port: 9090 }]],
  },
]

/** Keys that reach no component through `componentOptionsFrom`, and who reads them instead. */
const ELSEWHERE: Record<string, string> = {
  'db.schema_paths': 'agent.ts reads the schema files (readSchemaFiles), also on `patina reload`',
  'gossip.plaintext': 'accepted for Corrosion configs; Patina always encrypts',
  'gossip.cluster_key_file': 'the loader reads it into gossip.cluster_key (load.test.ts)',
  'api.external_addr': 'advertisedApi, once the API listens (advertised-api.test.ts)',
  'log.format': 'the logger (cli/commands/agent.ts, log.ts)',
  'log.level': 'the logger',
  'log.colors': 'the logger',
}

describe('config → component options (config/options.ts)', () => {
  it.each(ROWS)('$key', ({ key, value, lands }) => {
    const o = options([{ key, value: typeof value === 'number' ? String(value) : value }])
    for (const [path, expected] of lands) expect(at(o, path), path).toEqual(expected)
  })

  it('every configuration key has a row, or says which other module reads it', () => {
    const covered = new Set([...ROWS.map((r) => r.key), ...Object.keys(ELSEWHERE)])
    expect(CONFIG_KEYS.map((k) => k.name).filter((k) => !covered.has(k))).toEqual([])
    expect([...covered].filter((k) => !CONFIG_KEYS.some((c) => c.name === k))).toEqual([])
  })

  it('every timing key of TUNED_KEYS has a row that lands where the table says', () => {
    for (const [key, section, option] of TUNED_KEYS) {
      const row = ROWS.find((r) => r.key === `gossip.${key}`)
      expect(
        row?.lands.map(([p]) => p),
        key,
      ).toContain(`cluster.${section}.${option}`)
    }
  })

  it('the default config gives the components their own defaults (no silent drift)', () => {
    const o = options()
    expect(o.cluster.preset).toBe(PRESETS.lan)
    const tuning = resolveClusterTuning(o.cluster)
    expect(tuning).toEqual(PRESETS.lan)
    expect({ ...DEFAULT_API_OPTIONS, ...o.api }).toEqual({ ...DEFAULT_API_OPTIONS, tokens: [] })
    expect(o.apiServer).toEqual(DEFAULT_SERVER_LIMITS)
    for (const [k, v] of Object.entries(o.hub))
      expect(v, k).toBe(DEFAULT_SUBSCRIPTION_HUB_OPTIONS[k as keyof typeof DEFAULT_SUBSCRIPTION_HUB_OPTIONS])
    expect(o.adminPath).toBe(`${CWD}/patina/admin.sock`)
    expect(o.metricsListener).toBeNull()
  })
})

describe('timing presets (config/presets.ts)', () => {
  it.each(PRESET_NAMES)('gossip.preset = %s: the cluster runs exactly that preset', (name) => {
    const o = options([{ key: 'gossip.preset', value: name }])
    expect(resolveClusterTuning(o.cluster)).toEqual(PRESETS[name])
  })

  it('a preset sets the timing keys under the file, env and flags, which still override it', () => {
    const { config, sources } = loadConfig({
      env: { PATINA_GOSSIP__PRESET: 'local', PATINA_GOSSIP__PROBE_TIMEOUT_MS: '250' },
      cwd: CWD,
    })
    expect(config.gossip.preset).toBe('local')
    expect(config.gossip.probe_interval_ms).toBe(PRESETS.local.membership.probeIntervalMs)
    expect(sources.get('gossip.probe_interval_ms')).toBe('preset local')
    expect(config.gossip.probe_timeout_ms).toBe(250)
    const t = resolveClusterTuning(componentOptionsFrom(config).cluster)
    expect(t).toEqual({ ...PRESETS.local, membership: { ...PRESETS.local.membership, probeTimeoutMs: 250 } })
  })

  it('the config layer of a preset is its timing keys that differ from lan', () => {
    expect(presetConfig('lan')).toEqual({})
    expect(presetConfig('local')).toEqual({
      gossip: {
        probe_interval_ms: 500,
        probe_timeout_ms: 200,
        suspicion_mult: 3,
        isolation_after_ms: 10_000,
        sync_interval_min_ms: 500,
        sync_interval_max_ms: 5000,
      },
    })
    for (const [key, section, option] of TUNED_KEYS)
      expect(load()[`gossip`][key as 'probe_interval_ms'], key).toBe(tunedValue(PRESETS.lan, section, option))
  })

  it('an unknown preset name is refused with its source', () => {
    expect(() => loadConfig({ env: { PATINA_GOSSIP__PRESET: 'wan' }, cwd: CWD })).toThrow(
      /gossip\.preset value "wan" is not one of "lan", "local", "test" \(from environment variable PATINA_GOSSIP__PRESET\)/,
    )
  })
})
