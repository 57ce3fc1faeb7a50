import type { PatinaError, SqlValue } from '@patina/api'

/** An actor (node) id: a UUID in lowercase hyphenated text form, persisted in the database. */
export type ActorId = string

/** Column id of the row sentinel: the change that creates, deletes or resurrects a row. */
export const SENTINEL = '-1'

/**
 * One changed cell (or the row sentinel) inside a changeset.
 *
 * `db_version`, `site_id` and `ts` are the same for every change of a transaction,
 * so they live on the {@link FullChangeset}, not on each change.
 */
export interface Change {
  table: string
  /** Packed primary key: see `packPk`; byte-identical on every node. */
  pk: Uint8Array
  /** Column name, or {@link SENTINEL} for row create/delete/resurrect. */
  cid: string
  /**
   * New value; null for the sentinel. It keeps its SQLite storage class: an INTEGER is a
   * `bigint`, a REAL a `number` (see `crdt/values.ts`).
   */
  val: SqlValue
  /** Per-cell write counter; for the sentinel it equals `cl`. */
  colVersion: number
  /** Causal length of the row: odd = alive, even = deleted. */
  cl: number
  /** Ordinal of this change inside its transaction. */
  seq: number
}

/**
 * A transaction's changes, or a chunk of them. `seqStart..seqEnd` is the seq range this
 * chunk covers (changes overwritten since may be absent from it); the version is
 * complete once chunks cover `0..lastSeq`.
 */
export interface FullChangeset {
  kind: 'full'
  actorId: ActorId
  version: number
  /** Hybrid logical clock timestamp of the transaction (see `clock.ts`). */
  ts: number
  seqStart: number
  seqEnd: number
  lastSeq: number
  changes: Change[]
}

/** Versions of an actor that are known to carry no live change any more (cleared). */
export interface EmptyChangeset {
  kind: 'empty'
  actorId: ActorId
  /** Inclusive range of versions. */
  versions: [number, number]
}

export type Changeset = FullChangeset | EmptyChangeset

/** An inclusive range `[start, end]`. */
export type Range = [number, number]

/**
 * What a node has and lacks, per actor (Corrosion's `SyncStateV1`).
 * `need` lists versions at or below `heads[actor]` not yet received; `partialNeed`
 * lists, for versions received in part, the seq ranges still missing.
 */
export interface SyncState {
  actorId: ActorId
  heads: Record<ActorId, number>
  need: Record<ActorId, Range[]>
  partialNeed: Record<ActorId, Record<number, Range[]>>
}

/** A statement with optional positional or named parameters (named keys keep their `:`/`@`/`$` prefix). */
export interface Statement {
  sql: string
  params?: SqlValue[] | Record<string, SqlValue>
}

export interface StatementResult {
  rowsAffected: number
  /** seconds */
  time: number
}

export interface TransactionResult {
  results: StatementResult[]
  /** The new db_version of this node, or null when nothing changed. */
  version: number | null
  actorId: ActorId
  /** The transaction's changes, chunked for broadcast (empty when `version` is null). */
  changesets: FullChangeset[]
  /** seconds */
  time: number
}

/** A row changed by a commit, reported to change listeners (subscriptions, updates). */
export interface RowChange {
  table: string
  pk: Uint8Array
  pkValues: SqlValue[]
  /** Columns whose value may have changed; contains SENTINEL when the row was created, deleted or resurrected. */
  cids: string[]
  /** Whether the row is deleted after the commit (causal length even). */
  deleted: boolean
}

export interface CommitEvent {
  source: 'local' | 'remote'
  rows: RowChange[]
  /** Versions that became fully applied in this commit. */
  versions: { actorId: ActorId; version: number }[]
  /** Transaction timestamps of the applied changesets (for commit-lag metrics). */
  timestamps: number[]
  /**
   * A local commit's changesets, as `transaction` returns them: what the cluster broadcasts
   * (the agent subscribes it). Absent for remote commits, which are already replicated.
   */
  changesets?: readonly Changeset[]
}

export interface ApplyResult {
  /** Changes that won the merge and were written. */
  applied: number
  /** Changes that lost the merge (no-ops) or were already known. */
  ignored: number
  /** Versions that became complete (applied or cleared). */
  versions: { actorId: ActorId; version: number }[]
  /** Changesets buffered because other chunks of their version are missing. */
  buffered: number
  /**
   * Versions whose changeset failed to apply here (a constraint, an unknown table or column):
   * rolled back alone, held back until their retry time (see `refused()`). `first` is true the
   * first time a version is refused, for logging it once.
   */
  refused: { actorId: ActorId; version: number; code: string; reason: string; first: boolean }[]
}

/** A version this node refused to apply (see `StateEngine.refused`). */
export interface RefusedVersion {
  actorId: ActorId
  version: number
  /** Error code of the failure (`PATINA_ERR_*`, or SQLite's, e.g. `SQLITE_CONSTRAINT_CHECK`). */
  code: string
  reason: string
  /** Failed attempts so far. */
  attempts: number
  firstAtMs: number
  lastAtMs: number
  /** Neither requested from peers nor applied before this time (ms). */
  retryAtMs: number
}

export interface ColumnModel {
  name: string
  /** Declared type as written (may be empty). */
  type: string
  notNull: boolean
  /** SQL text of the default expression, or null. */
  defaultSql: string | null
  /** 1-based position in the primary key, 0 when not part of it. */
  pk: number
}

export interface TableModel {
  name: string
  columns: ColumnModel[]
  /** Primary-key column names, in key order. */
  pk: string[]
  /** Non-key column names, in declaration order. */
  nonPk: string[]
  /** `CREATE TABLE` text as applied. */
  sql: string
  indexes: { name: string; sql: string }[]
  /** A STRICT table (column types enforced; `ANY` keeps values as given). */
  strict?: boolean
  /**
   * Generated columns (`AS (expr)`, VIRTUAL or STORED): computed by SQLite on every node from
   * the replicated columns, never captured nor replicated, readable in queries and
   * subscriptions. Not part of `columns`.
   */
  generated?: GeneratedColumn[]
}

export interface GeneratedColumn {
  name: string
  stored: boolean
  /** The column's definition as written in `CREATE TABLE` (whitespace collapsed). */
  sql: string
}

export interface SchemaModel {
  tables: Map<string, TableModel>
}

export interface ResultColumn {
  name: string
  /** Origin table and column when the result column is a plain column reference. */
  table: string | null
  column: string | null
}

export interface QueryCursor {
  columns: ResultColumn[]
  /** Rows are produced lazily; the underlying statement is released when iteration ends. */
  rows: IterableIterator<SqlValue[]>
}

/** Options of {@link StateEngine.transaction}. */
export interface TransactionOptions {
  /**
   * Deadline in milliseconds for the whole transaction (preparing, every statement and the
   * change capture). SQLite stops whatever runs when it passes; the transaction rolls back
   * entirely and the call throws `PATINA_ERR_TIMEOUT`. None when absent.
   */
  timeoutMs?: number
}

/** One client transaction of a group (see {@link StateEngine.transactions}). */
export interface GroupedTransaction extends TransactionOptions {
  statements: Statement[]
}

/** Options of {@link StateEngine.transactions}. */
export interface GroupOptions {
  /**
   * Longest the group may hold the caller's thread, ms: no transaction starts once it is spent,
   * and each one's deadline is cut to what is left of it (a transaction stopped by that cut, not
   * by its own deadline, is answered `deferred`, rolled back, to run first in the next group).
   * None when absent.
   */
  budgetMs?: number
}

/**
 * What became of one transaction of a group: committed (its own version and changesets, as
 * `transaction` returns them), failed (its error; nothing of it was written) or deferred (not
 * run, or rolled back because the group's budget was spent; the caller runs it again).
 */
export type GroupOutcome =
  | { status: 'committed'; result: TransactionResult }
  | { status: 'failed'; error: PatinaError }
  /**
   * `stoppedByBudget`: it ran and was stopped by the cut (not its own deadline); it must lead
   * the next group, where it runs under its whole deadline (otherwise the requests before it
   * could use the budget again every time).
   */
  | { status: 'deferred'; stoppedByBudget?: true }

/** Options of {@link StateEngine.query}. */
export interface QueryOptions {
  /**
   * Deadline in milliseconds from the call until the last row has been read: preparing,
   * stepping and the time the caller takes between rows all count. When it passes, SQLite
   * stops the statement and the cursor throws `PATINA_ERR_TIMEOUT`. None when absent.
   */
  timeoutMs?: number
  /**
   * Keep SQLite's storage classes in the values: every INTEGER as a `bigint` and every REAL as
   * a `number` (so that INTEGER 2 and REAL 2.0 stay apart, as the HTTP API writes them).
   * Without it, integers within ±2^53 come back as `number`.
   */
  exactIntegers?: boolean
}

/** Options of {@link StateEngine.queryAsync}. */
export interface AsyncQueryOptions extends QueryOptions {
  /** Cancels the query (its statement stops at once, its thread is freed). */
  signal?: AbortSignal
}

/**
 * A query running on a read thread (`StateEngine.queryAsync`): rows arrive in batches as they
 * are read. Iterating `batches` to its end, or `close()`, frees the thread.
 */
export interface AsyncQueryCursor {
  columns: ResultColumn[]
  /** Batches of rows; throws a `PatinaError` (e.g. `PATINA_ERR_TIMEOUT`) if the statement fails. */
  batches: AsyncIterableIterator<SqlValue[][]>
  /** Stops the statement (idempotent). */
  close(): void
}

export interface EngineStats {
  /** Sum of missing versions over all actors. */
  gaps: number
  /** Versions received in part. */
  partials: number
  /** Number of actors known. */
  actors: number
  /** Local db_version. */
  version: number
  /** Versions refused when applied (counted in `gaps` too: this node lacks them). */
  refused: number
}

export interface StateEngine {
  readonly actorId: ActorId
  /** Current schema. */
  schema(): SchemaModel
  /**
   * Apply `CREATE TABLE` / `CREATE INDEX` SQL additively (new tables, new nullable or defaulted
   * columns, index changes). Refuses destructive changes. Adding a column writes no change per row.
   * A plain table that already exists with the same columns is adopted: its rows get clocks as
   * one local version (`version`), which peers receive by sync.
   */
  applySchema(sql: string): {
    tablesCreated: string[]
    columnsAdded: string[]
    indexesChanged: string[]
    tablesAdopted: string[]
    /** The local version that gave adopted rows their clocks, or null. */
    version: number | null
  }
  /** Run statements in one SQLite transaction, capturing changes, under an optional deadline. */
  transaction(statements: Statement[], opts?: TransactionOptions): TransactionResult
  /**
   * Group commit: runs client transactions in one SQLite transaction (one `BEGIN IMMEDIATE`
   * … `COMMIT`), each under its own savepoint, in order. Each keeps its own version, changesets
   * and deadline as if run alone with `transaction`, in the same order; one that fails is rolled
   * back alone and fails alone. Commit listeners hear one event for the group, after its
   * COMMIT. Throws only when the engine is closed.
   */
  transactions(group: GroupedTransaction[], opts?: GroupOptions): GroupOutcome[]
  /** Run one read-only statement under an optional deadline; rows stream lazily from a read connection. */
  query(sql: string, params?: Statement['params'], opts?: QueryOptions): QueryCursor
  /**
   * Run one read-only statement on a read thread, so that it never holds the caller's event
   * loop. Resolves when the first rows are read; rejects with the statement's error (a bad or
   * writing statement, its deadline) when it fails before any row. Databases in memory have no
   * read threads: the statement then runs on the caller's thread, under its deadline.
   */
  queryAsync(sql: string, params?: Statement['params'], opts?: AsyncQueryOptions): Promise<AsyncQueryCursor>
  /** Read threads started, busy, and queries waiting for one. */
  readThreads(): { threads: number; busy: number; waiting: number }
  /** Apply remote changesets in one SQLite transaction. */
  apply(changesets: Changeset[]): ApplyResult
  /** Per-actor heads, gaps and partials of this node. */
  syncState(): SyncState
  /** Changesets this node has that `theirs` lacks, in chunks of at most `maxChunkBytes` (approx.). */
  changesFor(theirs: SyncState, opts?: { maxChunkBytes?: number }): Generator<Changeset>
  /** Whether `version` of `actorId` is fully applied (or cleared) here. */
  contains(actorId: ActorId, version: number): boolean
  /**
   * Whether every version of `actorId` from 1 to `version` is applied (or cleared) here: no gap
   * and no partial version at or below it. Read-your-writes waits for this.
   */
  containsThrough(actorId: ActorId, version: number): boolean
  /** Versions this node refused to apply, with the reason and the next retry. */
  refused(): RefusedVersion[]
  /** Whether the actor id was created when this engine opened (a new database, or a copy without identity). */
  readonly actorCreated: boolean
  /**
   * Takes a new actor id, for a node whose database may be older than what peers know of its
   * actor (its old versions stay, served like any other actor's). Local writes continue under
   * the new id from version 1.
   */
  renewActor(): ActorId
  /** Subscribe to commits (local and remote). Returns an unsubscribe function. */
  onCommit(listener: (event: CommitEvent) => void): () => void
  /** Total rows of the given tables; unknown tables are reported, not counted. */
  tableStats(tables: string[]): { totalRowCount: number; invalidTables: string[] }
  stats(): EngineStats
  /** Client transactions and queries stopped by their deadline since the engine opened. */
  interrupts(): number
  /** Write a consistent copy that can seed a new node (this node's identity removed). */
  backup(path: string): Promise<void>
  close(): void
}
