/**
 * After validation: cross-key checks, paths resolved against the working directory, derived
 * defaults (subscriptions and admin socket next to the database), the cluster key file read.
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve as resolvePath } from 'node:path'
import { fail, showValue } from './layers.js'
import type { ParsedConfig, ResolvedConfig } from './schema.js'

/** Unix socket paths are limited to 107 bytes on Linux and 103 on macOS. */
export const UNIX_SOCKET_PATH_MAX_BYTES = 103

/** Reads a cluster key file: 64 hex characters, or a libp2p `swarm.key` (`/key/swarm/psk/1.0.0/`, `/base16/`, key). */
export function parseClusterKeyFile(text: string): string | null {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
  const keyLine =
    lines[0] === '/key/swarm/psk/1.0.0/'
      ? lines[1] === '/base16/'
        ? lines[2]
        : undefined
      : lines.length === 1
        ? lines[0]
        : undefined
  return keyLine !== undefined && /^[0-9a-fA-F]{64}$/.test(keyLine) ? keyLine.toLowerCase() : null
}

/** Cross-key checks, path resolution and derived defaults. */
export function finish(parsed: ParsedConfig, sources: Map<string, string>, cwd: string): ResolvedConfig {
  const from = (k: string) => (sources.has(k) ? ` (from ${sources.get(k) ?? ''})` : '')
  const g = parsed.gossip
  if (g.cluster_key !== undefined && g.cluster_key_file !== undefined)
    fail(
      `gossip.cluster_key and gossip.cluster_key_file are both set${from('gossip.cluster_key_file')}; set only one`,
    )
  if (g.sync_interval_min_ms > g.sync_interval_max_ms)
    fail(
      `gossip.sync_interval_min_ms value ${g.sync_interval_min_ms} is above gossip.sync_interval_max_ms (${g.sync_interval_max_ms})${from('gossip.sync_interval_min_ms')}`,
    )
  const abs = (p: string) => resolvePath(cwd, p)
  const dbPath = abs(parsed.db.path)
  let clusterKey = g.cluster_key?.toLowerCase()
  let clusterKeyFile: string | undefined
  if (g.cluster_key_file !== undefined) {
    clusterKeyFile = abs(g.cluster_key_file)
    let text: string
    try {
      text = readFileSync(clusterKeyFile, 'utf8')
    } catch (e) {
      fail(
        `gossip.cluster_key_file value ${showValue(g.cluster_key_file)} cannot be read: ${(e as Error).message}${from('gossip.cluster_key_file')}`,
      )
    }
    const k = parseClusterKeyFile(text)
    if (k === null)
      fail(
        `gossip.cluster_key_file value ${showValue(g.cluster_key_file)} does not hold a key: expected 64 hex characters or a libp2p swarm.key${from('gossip.cluster_key_file')}`,
      )
    clusterKey = k
  }
  const adminPath =
    parsed.admin.path !== undefined ? abs(parsed.admin.path) : resolvePath(dirname(dbPath), 'admin.sock')
  if (Buffer.byteLength(adminPath) > UNIX_SOCKET_PATH_MAX_BYTES)
    fail(
      `admin.path value ${showValue(adminPath)} is ${Buffer.byteLength(adminPath)} bytes long; Unix socket paths are limited to ${UNIX_SOCKET_PATH_MAX_BYTES} bytes${from('admin.path')}`,
    )
  const { cluster_key: _k, cluster_key_file: _f, ...gossipRest } = g
  return {
    ...parsed,
    db: {
      ...parsed.db,
      path: dbPath,
      schema_paths: parsed.db.schema_paths.map(abs),
      local_tables: parsed.db.local_tables,
      subscriptions_path:
        parsed.db.subscriptions_path !== undefined
          ? abs(parsed.db.subscriptions_path)
          : resolvePath(dirname(dbPath), 'subscriptions'),
    },
    gossip: {
      ...gossipRest,
      ...(clusterKey !== undefined ? { cluster_key: clusterKey } : {}),
      ...(clusterKeyFile !== undefined ? { cluster_key_file: clusterKeyFile } : {}),
    },
    admin: { path: adminPath },
  }
}
