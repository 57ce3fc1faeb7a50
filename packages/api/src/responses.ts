/** `POST /v1/transactions` result per statement. */
export type ExecResult = { rows_affected: number; time: number } | { error: string; code?: string }

/** `POST /v1/transactions` response body (Corrosion's `ExecResponse`). */
export interface ExecResponse {
  results: ExecResult[]
  /** seconds */
  time: number
  /** The new local db_version, or null when nothing changed. */
  version: number | null
  actor_id: string
}

export interface TableStatsRequest {
  tables: string[]
}
export interface TableStatsResponse {
  total_row_count: number
  invalid_tables: string[]
}

export interface HealthResponse {
  response: {
    gaps: number
    members: number
    p99_lag: number
    queue_size: number
    /**
     * A Patina addition, present only when non-zero: versions this node refused to apply (a
     * constraint or table its schema lacks) and holds back until their retry; counted in `gaps`.
     */
    refused_versions?: number
  }
}

export type MemberState = 'alive' | 'suspect' | 'down' | 'left'
export type MemberRole = 'worker' | 'edge'

/** One entry of `GET /v1/cluster/members` (a Patina addition). */
export interface MemberInfo {
  actor_id: string
  peer_id: string
  gossip_addrs: string[]
  api_addr: string | null
  region: string
  role: MemberRole
  incarnation: number
  state: MemberState
  /** Round-trip time of the last successful probe, in milliseconds, when known. */
  rtt_ms: number | null
  /** Whether this entry is the answering node itself. */
  self: boolean
}
export interface MembersResponse {
  members: MemberInfo[]
}

/** Error body used by every endpoint other than `/v1/transactions`. */
export interface ErrorBody {
  error: string
  /** A stable Patina error code, when the error has one (Patina addition). */
  code?: string
}
