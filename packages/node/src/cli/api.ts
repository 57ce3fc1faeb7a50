/**
 * The slice of the HTTP API the CLI uses. `@patina/client`'s `PatinaClient` satisfies it
 * structurally; tests pass a fake.
 */
import type { ExecResponse, JsonStatement, MembersResponse, QueryEvent } from '@patina/api'

export interface CliCallOptions {
  /** Deadline in milliseconds; 0 = none. */
  timeoutMs?: number
}

export interface CliSubscriptionStream extends AsyncIterable<QueryEvent> {
  /** The subscription id (`corro-query-id`), to resume with. */
  readonly id: string
  /** The last change id seen, or null before the first `eoq`/`change`. */
  readonly lastChangeId: number | null
  close(): void
}

export interface CliApi {
  transaction(statements: JsonStatement[], opts?: CliCallOptions): Promise<ExecResponse>
  query(statement: JsonStatement, opts?: CliCallOptions): Promise<AsyncIterable<QueryEvent>>
  subscribe(
    statement: JsonStatement,
    opts?: { from?: number; skipRows?: boolean },
  ): Promise<CliSubscriptionStream>
  subscription(id: string, opts?: { from?: number }): Promise<CliSubscriptionStream>
  members(opts?: CliCallOptions): Promise<MembersResponse>
  close(): Promise<void>
}

export interface CliApiOptions {
  /** Base URL of the worker, e.g. `http://127.0.0.1:8080`. */
  url: string
  token?: string
}

export type CreateCliApi = (opts: CliApiOptions) => Promise<CliApi> | CliApi
