import type { ErrorCode, SqlValue } from '@patina/api'
import type { ResultColumn, Statement } from '../types.js'

/** Messages between the main thread (`read-threads.ts`) and a read thread (`read-worker.ts`). */

export interface WorkerInit {
  /** Database file. */
  path: string
  /** This node's actor id (`crsql_site_id`, `compat.ts`). */
  actorId: string
  /** Key of the thread's connection deadline: the main thread cancels a statement with it. */
  key: Uint8Array
  /** Most rows in one batch. */
  batchRows: number
  /** Approximate most bytes of values in one batch. */
  batchBytes: number
  /** Most milliseconds spent filling one batch before it is sent (so a slow statement streams). */
  batchMs: number
  /** Batches a query may send ahead of the main thread's reading. */
  window: number
}

export type ToWorker =
  | {
      type: 'query'
      id: number
      sql: string
      params: Statement['params']
      timeoutMs?: number
      /** Values with their storage class (`QueryOptions.exactIntegers`). */
      exactIntegers: boolean
      /** The db version committed when the query was sent (`crsql_db_version()`). */
      dbVersion: number
      /** This node's actor id when the query was sent (`crsql_site_id`; it follows `renewActor`). */
      actorId: string
    }
  | { type: 'more'; id: number }
  | { type: 'cancel'; id: number }
  | { type: 'close' }

export type ToMain =
  | { type: 'ready' }
  | { type: 'failed'; code: ErrorCode; message: string }
  | { type: 'columns'; id: number; columns: ResultColumn[] }
  | { type: 'rows'; id: number; rows: SqlValue[][]; done: boolean }
  | { type: 'error'; id: number; code: ErrorCode; message: string }
  | { type: 'end'; id: number }
