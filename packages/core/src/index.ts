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
export { createStateEngine, type StateEngineOptions } from './engine.js'
export { forgetIdentity } from './store/backup.js'
export { createHlc, systemClock, TICKS_PER_MS, type Clock, type Hlc } from './clock.js'
export {
  encodeChangeset,
  decodeChangeset,
  changesetToWire,
  changesetFromWire,
  encodeSyncState,
  decodeSyncState,
  validateSyncState,
  CHANGESET_FORMAT,
} from './codec/changeset.js'
export { DEFAULT_DECODE_LIMITS, DEFAULT_CHUNK_BYTES, type DecodeLimits } from './codec/limits.js'
export { packPk, unpackPk } from './crdt/pk.js'
export { compareValues } from './crdt/values.js'
export { remoteCellWins, compareCausalLength } from './crdt/merge.js'
export { RangeSet } from './versions/range-set.js'
export { BookedVersions } from './versions/booked-versions.js'
export { splitStatements, leadingKeyword } from './schema/split.js'
export * from './store/subs-store.js'
export { tokenize, trimStatement, quoteIdent, identName, type Token, type TokenKind } from './sql/lexer.js'
export {
  createQueryProbe,
  type QueryProbe,
  type QueryFacts,
  type FunctionInfo,
  type ExplainOp,
  type PlanRow,
} from './store/query-probe.js'
export {
  planSubscription,
  restrictedSql,
  isRelevant,
  hiddenName,
  type QueryPlan,
  type PlanTable,
} from './subs/matcher.js'
export type { RowIdentity } from './subs/identity.js'
export { normalizeParams } from './subs/params.js'
export { encodeKey, decodeKey, isNullKey, encodeParams, decodeParams } from './subs/keys.js'
