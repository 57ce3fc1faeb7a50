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
     * Patina (absent from Corrosion): this node has had no other member alive for longer than
     * `gossip.isolation_after_ms` (its data may be stale, its writes stay local).
     */
    isolated?: boolean
    /** Patina: ms since this node last received anything from another member; null if never. */
    last_contact_ms?: number | null
    /** Patina: other members currently alive in this node's view. */
    reachable_members?: number
    /**
     * Patina: per actor id, the highest version of that actor this node knows of (`max`) and the
     * highest version `V` such that every version `1..V` of it is applied here (`complete`,
     * `<= max`). Actors with no version known are left out. Clients compare workers with it.
     */
    heads?: Record<string, ActorHeadInfo>
    /**
     * Patina, present only when non-zero: versions this node refused to apply (a constraint or a
     * table its schema lacks) and holds back until their retry; they are counted in `gaps`.
     */
    refused_versions?: number
  }
}

/** One actor's versions on a node, in `HealthResponse.response.heads`. */
export interface ActorHeadInfo {
  max: number
  complete: number
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
  /** Whether the answering node is isolated (as in `GET /v1/health`). */
  isolated?: boolean
  /** Ms since the answering node last received anything from another member; null if never. */
  last_contact_ms?: number | null
  /** Other members alive in the answering node's view. */
  reachable_members?: number
}

/** Error body used by every endpoint other than `/v1/transactions`. */
export interface ErrorBody {
  error: string
  /** A stable Patina error code, when the error has one (Patina addition). */
  code?: string
}
