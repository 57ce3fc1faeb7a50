import { describe, expect, it } from 'vitest'
import { DEFAULT_API_OPTIONS } from '../../src/api/options.js'
import { LAN_PRESET } from '../../src/cluster.js'
import { DEFAULT_SUBSCRIPTION_HUB_OPTIONS } from '../../src/subs/hub.js'
import { loadConfig } from '../../src/config/load.js'
import {
  apiOptionsFrom,
  clusterOptionsFrom,
  hubOptionsFrom,
  transportOptionsFrom,
} from '../../src/config/options.js'

const defaults = () => loadConfig({ env: {}, cwd: '/srv/patina' }).config

describe('config → component options', () => {
  it('the default config gives the components their own LAN defaults (no silent drift)', () => {
    const c = clusterOptionsFrom(defaults())
    for (const [k, v] of Object.entries(c.membership ?? {}))
      expect(v, `membership.${k}`).toBe(LAN_PRESET.membership[k as keyof typeof LAN_PRESET.membership])
    for (const [k, v] of Object.entries(c.broadcast ?? {}))
      expect(v, `broadcast.${k}`).toBe(LAN_PRESET.broadcast[k as keyof typeof LAN_PRESET.broadcast])
    for (const [k, v] of Object.entries(c.sync ?? {}))
      expect(v, `sync.${k}`).toBe(LAN_PRESET.sync[k as keyof typeof LAN_PRESET.sync])
    const a = apiOptionsFrom(defaults())
    expect(a).toEqual({ ...DEFAULT_API_OPTIONS, tokens: [] })
    const h = hubOptionsFrom(defaults())
    for (const [k, v] of Object.entries(h))
      expect(v, k).toBe(DEFAULT_SUBSCRIPTION_HUB_OPTIONS[k as keyof typeof DEFAULT_SUBSCRIPTION_HUB_OPTIONS])
  })

  it('maps gossip, identity and key settings', () => {
    const { config } = loadConfig({
      env: {
        PATINA_GOSSIP__ADDR: '[::]:8787',
        PATINA_GOSSIP__EXTERNAL_ADDR: '10.0.0.1:8787',
        PATINA_GOSSIP__BOOTSTRAP: '10.0.0.2:8787',
        PATINA_GOSSIP__CLUSTER_ID: '7',
        PATINA_GOSSIP__CLUSTER_KEY: 'AB'.repeat(32),
        PATINA_API__AUTHORIZATION__BEARER_TOKEN: 'writer-token',
      },
      cwd: '/srv/patina',
    })
    expect(transportOptionsFrom(config)).toEqual({
      listen: ['[::]:8787'],
      announce: ['10.0.0.1:8787'],
      identityPath: '/srv/patina/patina/node.key',
      clusterKey: 'ab'.repeat(32),
      maxMessageBytes: 1_048_576,
    })
    const c = clusterOptionsFrom(config)
    expect(c).toMatchObject({
      clusterId: '7',
      apiAddr: '127.0.0.1:8080',
      bootstrap: ['10.0.0.2:8787'],
      membersPath: '/srv/patina/patina/members.json',
      role: 'worker',
    })
    expect(apiOptionsFrom(config).tokens).toEqual([{ token: 'writer-token', role: 'write' }])
  })
})
