import type { JsonParam } from './values.js'

/**
 * The five statement forms of Corrosion's HTTP API (`corro-api-types::Statement`, untagged):
 *
 * ```json
 * "SELECT 1"
 * ["INSERT INTO t (id, v) VALUES (?, ?)", [1, "x"]]
 * ["UPDATE t SET v = :v WHERE id = :id", {":id": 1, ":v": "y"}]
 * {"query": "...", "params": [1, 2]}
 * {"query": "...", "named_params": {":id": 1}}
 * ```
 *
 * Named-parameter keys carry their SQLite prefix (`:`, `@` or `$`).
 */
export type JsonStatement =
  | string
  | [string, JsonParam[]]
  | [string, Record<string, JsonParam>]
  | { query: string; params?: JsonParam[] }
  | { query: string; named_params?: Record<string, JsonParam> }

/** Read-your-writes token: wait until `version` of `actor_id` is applied before answering. */
export interface WaitFor {
  actor_id: string
  version: number
}
