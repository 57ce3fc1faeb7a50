import { describe, expect, it } from 'vitest'
import { resolveClusterTuning } from '../../src/runtime/cluster.js'
import { PRESETS } from '../../src/config/presets.js'

describe('cluster tuning', () => {
  it('merges a preset with overrides and names a bad value in its error', () => {
    const t = resolveClusterTuning({ preset: PRESETS.test, sync: { maxIntervalMs: 9000 } })
    expect(t.sync.maxIntervalMs).toBe(9000)
    expect(t.membership.probeIntervalMs).toBe(200)
    expect(() => resolveClusterTuning({ preset: PRESETS.lan, sync: { peersPerRound: 0 } })).toThrow(
      /sync.peersPerRound value 0/,
    )
    expect(() =>
      resolveClusterTuning({ preset: PRESETS.lan, sync: { minIntervalMs: 5000, maxIntervalMs: 100 } }),
    ).toThrow(/minIntervalMs/)
  })
})
