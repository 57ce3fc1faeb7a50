/**
 * Configuration presets that build on each other (memberlist's `DefaultLANConfig` →
 * `DefaultLocalConfig`). A preset is a partial config layered between the schema defaults and
 * the TOML file, so a file can still override any key.
 */
import type { ConfigInput } from './schema.js'

/** Production defaults on a LAN or a fleet: exactly the schema defaults. */
export function lan(): ConfigInput {
  return {}
}

/**
 * Several nodes on one machine (`patina dev`): faster sync and failure detection, so that a
 * killed node is noticed and a restarted one catches up within seconds.
 */
export function local(): ConfigInput {
  return {
    gossip: {
      sync_interval_min_ms: 500, // catch up quickly after a restart
      sync_interval_max_ms: 5_000, // idle clusters still converge within seconds
      probe_interval_ms: 500, // loopback round trips are sub-millisecond
      probe_timeout_ms: 200,
      suspicion_mult: 3, // a killed node is shown down after a few seconds
      isolation_after_ms: 10_000,
    },
    log: { format: 'pretty' },
  }
}

/** In-process and multi-process tests: short intervals, quiet logs. */
export function test(): ConfigInput {
  return {
    gossip: {
      sync_interval_min_ms: 200,
      sync_interval_max_ms: 2_000,
      probe_interval_ms: 200,
      probe_timeout_ms: 100,
      indirect_probes: 2,
      sync_timeout_ms: 10_000,
      isolation_after_ms: 2_000,
    },
    api: { subscriptions: { idle_timeout_ms: 5_000 } },
    log: { level: 'warn' },
  }
}

export const PRESETS = { lan, local, test } as const
export type PresetName = keyof typeof PRESETS
