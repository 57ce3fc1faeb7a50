import { describe, expect, it } from 'vitest'
import { advertisedApi } from '../../src/config/options.js'
import { loadConfig } from '../../src/config/index.js'

const cfg = (overrides: Record<string, unknown>) =>
  loadConfig({
    env: {},
    cwd: '/tmp',
    overrides: Object.entries(overrides).map(([key, value]) => ({ key, value })),
  }).config

describe('advertised API address', () => {
  it('is the first listener by default', () => {
    expect(advertisedApi(cfg({ 'api.addr': '127.0.0.1:9000' }), ['http://127.0.0.1:9000'])).toBe(
      'http://127.0.0.1:9000',
    )
  })
  it('is api.external_addr when set', () => {
    expect(
      advertisedApi(cfg({ 'api.addr': '0.0.0.0:8080', 'api.external_addr': 'worker-1:8080' }), [
        'http://127.0.0.1:8080',
      ]),
    ).toBe('http://worker-1:8080')
  })
  it("takes gossip.external_addr's host for a wildcard listener", () => {
    expect(
      advertisedApi(cfg({ 'api.addr': '0.0.0.0:8080', 'gossip.external_addr': '10.1.2.3:8787' }), [
        'http://127.0.0.1:8080',
      ]),
    ).toBe('http://10.1.2.3:8080')
  })
})
