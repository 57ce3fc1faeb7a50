/**
 * @packageDocumentation
 *
 * The Patina state engine: replicated (CRDT) tables on SQLite, change capture,
 * merge, per-actor version bookkeeping and the changeset codec. No network, no timers.
 *
 * @example
 * ```ts
 * import { createStateEngine } from '@patina/core'
 * const engine = createStateEngine({ path: ':memory:', schema: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)' })
 * const { version, changesets } = engine.transaction([{ sql: 'INSERT INTO t VALUES (?, ?)', params: [1, 'a'] }])
 * other.apply(changesets)
 * ```
 */
export * from './types.js'
