/**
 * THE configuration schema of a Patina worker: one zod schema gives the TypeScript type, the
 * defaults, the ranges, the environment-variable names, the `--set` keys and `docs/config.md`.
 *
 * Section and key names follow Corrosion (`corro-types/src/config.rs`) wherever a feature exists
 * in both, so that Corrosion's configs load unchanged apart from paths. Patina's own keys carry
 * their unit in the name (`_ms`, `_bytes`).
 *
 * Every key is declared with {@link key}, which attaches a doc string (and optionally aliases, a
 * type label or a textual default) as zod metadata; `config/docs.ts` and `config/load.ts` read it.
 */
import { z } from 'zod'
import { isBootstrapAddr, isGossipAddr, parseHostPort } from './addr.js'
import { PRESET_NAMES } from './presets.js'

/** Metadata attached to every configuration key. */
export interface KeyMeta {
  /** One or two sentences: what the key does and why one would change it. */
  doc: string
  /** Other names accepted for this key in the same section (Corrosion's serde aliases). */
  aliases?: string[]
  /** Type as shown in docs, when the derived one is not clear enough. */
  typeLabel?: string
  /** Default as shown in docs, when it is derived from other keys at load time. */
  defaultLabel?: string
  /** The value is a filesystem path: relative paths are resolved against the working directory. */
  path?: boolean
}

/** Attach {@link KeyMeta} to a key's schema (outermost wrapper, so readers find it first). */
function key<T extends z.ZodType>(schema: T, meta: KeyMeta): T {
  return schema.meta({ ...meta }) as T
}

/** Type labels shown in docs for reusable leaf schemas (keyed by the unwrapped schema). */
export const TYPE_LABELS = new WeakMap<z.ZodType, string>()
function labeled<T extends z.ZodType>(schema: T, label: string): T {
  TYPE_LABELS.set(schema, label)
  return schema
}

/**
 * Refinement failures carry one of these codes as their message; `load.ts` turns them into
 * sentences naming what is allowed.
 */
export const REFINE_CODES = {
  'host:port': 'a host:port address such as "127.0.0.1:8080" or "[::]:8080"',
  'gossip-addr':
    'a host:port address such as "[::]:8787" or a TCP multiaddr such as "/ip4/127.0.0.1/tcp/8787"',
  'bootstrap-addr': 'a host:port address, host:port@dns:port, or a TCP multiaddr',
  hex64: 'a key of 64 hex characters (32 bytes)',
} as const

/** Corrosion's `host:port` (HTTP listeners). */
const hostPort = labeled(
  z.string().refine((s) => parseHostPort(s) !== null, { message: 'host:port' }),
  'string (host:port)',
)
/** Gossip: `host:port` or a TCP multiaddr. */
const gossipAddr = labeled(
  z.string().refine(isGossipAddr, { message: 'gossip-addr' }),
  'string (host:port or multiaddr)',
)
const bootstrapAddr = labeled(
  z.string().refine(isBootstrapAddr, { message: 'bootstrap-addr' }),
  'string (host:port or multiaddr)',
)
const path = z.string().min(1)
const positiveInt = (min: number, max: number) => z.int().min(min).max(max)

/** A pino level name (plus `silent`). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export const TOKEN_ROLES = ['read', 'write'] as const
export type TokenRole = (typeof TOKEN_ROLES)[number]

const tokenSchema = z.strictObject({
  token: z.string().min(8),
  role: z.enum(TOKEN_ROLES),
})
export type ApiToken = z.output<typeof tokenSchema>

const db = z
  .strictObject({
    path: key(path.default('./patina/state.db'), {
      doc: 'SQLite database file of this node (Corrosion requires it; Patina defaults to a local path). The node identity (libp2p key) is kept next to it.',
      path: true,
    }),
    schema_paths: key(z.array(path).default([]), {
      doc: 'Schema files (`.sql`) and directories of them, applied additively at start and on `patina reload`.',
      path: true,
    }),
    read_threads: key(positiveInt(1, 64).default(4), {
      doc: 'Threads that run `POST /v1/queries` (each with a read connection of its own), so that no query holds the main thread; more queries at once wait for one (their deadline running). Started on first use.',
    }),
    local_tables: key(z.array(z.string().min(1).max(255)).default([]), {
      doc: "Tables that are not replicated but that `POST /v1/transactions` may write, alone or in the same transaction as replicated tables (Corrosion's `consul sync` keeps its `__corro_consul_*` tables that way). Names, or a prefix followed by `*`. They are created outside the schema files, by the tool that owns them; Patina's internal tables are never writable.",
      typeLabel: 'string[]',
    }),
    subscriptions_path: key(path.optional(), {
      doc: 'Directory for persisted subscription state.',
      defaultLabel: '<db dir>/subscriptions',
      path: true,
    }),
    synchronous: key(z.enum(['NORMAL', 'FULL']).default('NORMAL'), {
      doc: "SQLite `synchronous` of the database (WAL). `NORMAL` (Corrosion's): an acknowledged write survives a crash of the process, but an OS crash or power loss can roll back the last commits. `FULL`: it survives those too, at the cost of an fsync per write transaction (docs/reliability.md has the figures).",
    }),
    own_history_wait_ms: key(positiveInt(0, 3_600_000).default(10_000), {
      doc: 'At start, a node whose database already has an actor id asks peers (bootstrap entries and remembered members) for versions of its own actor beyond its database, before it accepts writes. If none answers within this time it takes a new actor id, so that no version number is ever issued twice (docs/reliability.md). 0 skips the wait.',
    }),
  })
  .prefault({})

const gossip = z
  .strictObject({
    addr: key(gossipAddr.default('127.0.0.1:8787'), {
      doc: 'Listen address for the cluster protocol (TCP): `host:port` such as `"[::]:8787"`, or a multiaddr.',
      aliases: ['bind_addr'],
    }),
    external_addr: key(gossipAddr.optional(), {
      doc: 'Address other members dial to reach this node, when it differs from `addr` (NAT, `0.0.0.0`, containers).',
    }),
    bootstrap: key(z.array(bootstrapAddr).default([]), {
      doc: 'Members to contact at start: `host:port` (Corrosion), `host:port@dns:port` (the DNS server part is ignored) or a multiaddr with or without `/p2p/<peer id>`.',
    }),
    plaintext: key(z.boolean().default(false), {
      doc: 'Accepted for Corrosion compatibility (there it turns QUIC TLS off). Patina always encrypts peer connections with Noise; use `cluster_key` to keep strangers out.',
    }),
    cluster_id: key(positiveInt(0, 65535).default(0), {
      doc: 'Cluster id (Corrosion `cluster_id`, u16). Nodes only exchange state with nodes of the same id; it is part of the gossip topic names.',
    }),
    cluster_key: key(
      labeled(
        z.string().regex(/^[0-9a-fA-F]{64}$/, { message: 'hex64' }),
        'string (64 hex characters)',
      ).optional(),
      {
        doc: 'Pre-shared cluster key: 64 hex characters (32 bytes). When set, nodes without the same key cannot connect at all (libp2p private network). Prefer `cluster_key_file` to keep it out of the config.',
      },
    ),
    cluster_key_file: key(path.optional(), {
      doc: 'File holding the pre-shared cluster key: 64 hex characters, or a libp2p `swarm.key` (`/key/swarm/psk/1.0.0/`, `/base16/`, key). Read once at load; exclusive with `cluster_key`.',
      path: true,
    }),
    region: key(z.string().min(1).max(64).default('local'), {
      doc: 'Region label announced in the member record; clients prefer nearby workers.',
    }),
    preset: key(z.enum(PRESET_NAMES).default('lan'), {
      doc: 'Timing preset (`config/presets.ts`): `lan` for a LAN or data centre, `local` for several nodes on one host (what `patina dev` writes: failures noticed and restarts caught up within seconds), `test` for tests. It sets every cluster timing, those without a key of their own too (announcements, push-pull, bootstrap retries, retransmits, apply queue, stop grace); the timing keys of this section default to its values (the defaults shown here are `lan`) and override it.',
    }),
    sync_interval_min_ms: key(positiveInt(10, 3_600_000).default(1_000), {
      doc: 'Shortest pause between two anti-entropy sync rounds (Corrosion `perf.min_sync_backoff`, 1 s). The pause grows towards the maximum while the node is in sync.',
    }),
    sync_interval_max_ms: key(positiveInt(10, 3_600_000).default(15_000), {
      doc: 'Longest pause between two anti-entropy sync rounds (Corrosion `perf.max_sync_backoff`, 15 s).',
    }),
    sync_peers: key(positiveInt(1, 64).default(3), {
      doc: 'Members to sync with in each round, picked at random.',
    }),
    sync_chunk_max_bytes: key(positiveInt(1_024, 16_777_216).default(65_536), {
      doc: 'Approximate size of one chunk of changes in a sync response; bounds memory whatever the backlog.',
    }),
    sync_timeout_ms: key(positiveInt(100, 600_000).default(30_000), {
      doc: 'A sync session that makes no progress for this long is aborted.',
    }),
    broadcast_batch_delay_ms: key(positiveInt(0, 10_000).default(5), {
      doc: 'Under load, local changesets are coalesced for at most this long before being published (a lone write is published at once).',
    }),
    broadcast_batch_max_bytes: key(positiveInt(1_024, 16_777_216).default(262_144), {
      doc: 'A coalesced broadcast batch is published as soon as it reaches this size.',
    }),
    message_max_bytes: key(positiveInt(4_096, 16_777_216).default(1_048_576), {
      doc: 'Largest gossip message sent or accepted; larger changesets are chunked by seq range.',
    }),
    probe_interval_ms: key(positiveInt(10, 600_000).default(1_000), {
      doc: 'Failure detection: one member is probed (libp2p ping) per interval.',
    }),
    probe_timeout_ms: key(positiveInt(10, 600_000).default(500), {
      doc: 'Failure detection: a probe without an answer after this long counts as failed and indirect probes start.',
    }),
    indirect_probes: key(positiveInt(0, 16).default(3), {
      doc: 'Failure detection: members asked to probe a member that failed a direct probe before it is suspected.',
    }),
    suspicion_mult: key(positiveInt(1, 100).default(4), {
      doc: 'Failure detection (memberlist `SuspicionMult`): a suspected member that does not refute within `suspicion_mult × log10(members) × probe_interval_ms` is declared down.',
    }),
    isolation_after_ms: key(positiveInt(100, 86_400_000).default(15_000), {
      doc: 'A node that expects peers (it has bootstrap entries or has met other members) and has had no other member alive for this long reports itself isolated: `isolated` in `/v1/health`, `patina cluster members`, the `patina_cluster_isolated` metric and a log line.',
    }),
  })
  .prefault({})

const authorization = z
  .strictObject({
    'bearer-token': key(z.string().min(8).optional(), {
      doc: "Corrosion's single bearer token; in Patina it is a read-write token.",
      aliases: ['bearer'],
    }),
    tokens: key(z.array(tokenSchema).default([]), {
      doc: 'Tokens with roles: `read` may query and subscribe, `write` may also run transactions. No token at all means no authorization.',
      typeLabel: '{ token: string, role: "read" | "write" }[]',
    }),
  })
  .prefault({})
  .transform(({ 'bearer-token': bearer, tokens }) => ({
    /** Every accepted token; `bearer-token` comes first with role `write`. Empty: no authorization. */
    tokens: bearer === undefined ? tokens : [{ token: bearer, role: 'write' as const }, ...tokens],
  }))

const limits = z
  .strictObject({
    body_max_bytes: key(positiveInt(1_024, 1_073_741_824).default(8_388_608), {
      doc: 'Largest accepted request body; larger requests get `PATINA_ERR_BODY_TOO_LARGE` (413).',
    }),
    statements_per_tx_max: key(positiveInt(1, 1_000_000).default(1_000), {
      doc: 'Most statements in one `POST /v1/transactions`; more get `PATINA_ERR_TOO_MANY_STATEMENTS`.',
    }),
    query_timeout_secs: key(positiveInt(0, 86_400).default(60), {
      doc: 'Deadline of `POST /v1/queries` when the request gives no `?timeout=` (Corrosion: 60 s); 0 = `timeout_max_secs`. SQLite stops the query there; a stream that had started ends with an `error` line.',
    }),
    timeout_max_secs: key(positiveInt(1, 86_400).default(300), {
      doc: 'The largest deadline of any client statement (queries, transactions, subscription statements), whatever the request asks for: a larger `?timeout=` is cut to it.',
    }),
    main_thread_max_ms: key(positiveInt(10, 600_000).default(400), {
      doc: "The longest a client statement may hold the node's main thread: transactions (a request's `?timeout=` can only shorten it) and subscription statements. The main thread also answers membership probes, so this stays below `gossip.probe_timeout_ms`: a node silent for longer than that may be suspected by its peers (see docs/reliability.md). A write stopped here is rolled back and answered `PATINA_ERR_TIMEOUT` with a message to split it. Queries run on read threads and are not bound by it.",
    }),
    transactions_per_group_max: key(positiveInt(1, 4_096).default(64), {
      doc: 'Group commit: most `POST /v1/transactions` requests that arrive together run as one SQLite transaction (one `BEGIN IMMEDIATE` … `COMMIT`, a savepoint per request). Each keeps its own version, changesets, answer and deadline; one that fails is rolled back alone. The group holds the main thread no longer than `main_thread_max_ms`. 1 runs every request in a transaction of its own.',
    }),
    wait_timeout_default_ms: key(positiveInt(0, 3_600_000).default(5_000), {
      doc: 'Read-your-writes: how long a read waits for the requested version when the request gives no `wait_timeout_ms`.',
    }),
    wait_timeout_max_ms: key(positiveInt(0, 3_600_000).default(60_000), {
      doc: 'Read-your-writes: the largest `wait_timeout_ms` a request may ask for.',
    }),
    stream_buffer_max_bytes: key(positiveInt(65_536, 1_073_741_824).default(16_777_216), {
      doc: 'NDJSON a query, subscription or updates stream may hold unsent for a slow client; beyond it the stream gets an `error` event and ends (the client resumes with `from`).',
    }),
    header_timeout_ms: key(positiveInt(100, 600_000).default(10_000), {
      doc: 'A new connection must send its first request, and a request its headers, within this time (HTTP/1.1: 408 and the connection closes; HTTP/2: the session gets GOAWAY). A real client sends headers in one packet; a slowloris never finishes them.',
    }),
    body_timeout_ms: key(positiveInt(100, 3_600_000).default(30_000), {
      doc: 'A request body must arrive within this time after its headers (HTTP/1.1: headers and body within `header_timeout_ms` + this); otherwise 408. 30 s carries the largest body (`body_max_bytes`) over a 2 Mbit/s link.',
    }),
    idle_timeout_ms: key(positiveInt(1_000, 3_600_000).default(60_000), {
      doc: 'An HTTP/1.1 keep-alive connection or an HTTP/2 session with no request in flight is closed after this (HTTP/2 pings do not count). Streaming responses (subscriptions, updates) keep their connection open as long as they stream.',
    }),
    connections_per_address_max: key(positiveInt(1, 1_000_000).default(1_024), {
      doc: 'Open connections one client IP address may hold on an API listener; a request on an extra connection gets 503 `PATINA_ERR_CONNECTION_LIMIT` and the connection closes. Over HTTP/1.1 every live subscription holds a connection; over HTTP/2 one connection carries many.',
    }),
    http2_max_streams: key(positiveInt(1, 1_000_000).default(1_000), {
      doc: 'Concurrent streams (requests, subscriptions) one HTTP/2 connection may carry (SETTINGS_MAX_CONCURRENT_STREAMS).',
    }),
  })
  .prefault({})

const concurrencyKey = (route: string, def: number, extra = '') =>
  key(positiveInt(1, 1_000_000).default(def), {
    doc: `Requests to ${route} in flight at once; beyond it the answer is 503 \`max concurrency limit reached\` (as Corrosion).${extra}`,
  })

const concurrency = z
  .strictObject({
    transactions: concurrencyKey('`/v1/transactions`', 128),
    queries: concurrencyKey('`/v1/queries`', 128),
    subscriptions: concurrencyKey('`/v1/subscriptions`', 10_000, ' A stream counts until it ends.'),
    updates: concurrencyKey('`/v1/updates`', 10_000, ' A stream counts until it ends.'),
    table_stats: concurrencyKey('`/v1/table_stats`', 4),
    health: concurrencyKey('`/v1/health`', 4),
  })
  .prefault({})

const subscriptions = z
  .strictObject({
    retention_changes: key(positiveInt(100, 100_000_000).default(100_000), {
      doc: 'Changes kept per subscription so that a client can resume with `?from=` (Corrosion keeps 500). Older change ids get `PATINA_ERR_CHANGE_ID_TOO_OLD`.',
    }),
    retention_ms: key(positiveInt(1_000, 2_592_000_000).default(86_400_000), {
      doc: 'Changes older than this are dropped from a subscription log even below `retention_changes`.',
    }),
    idle_timeout_ms: key(positiveInt(1_000, 86_400_000).default(600_000), {
      doc: 'A subscription without consumers is kept (and resumable) for this long (Corrosion: 10 min).',
    }),
    rerun_max_rows: key(positiveInt(1, 10_000_000).default(10_000), {
      doc: 'Most rows of a subscription that is maintained by re-running its query (aggregates, DISTINCT, LIMIT, subqueries, compound selects...; see docs/api.md). A larger one is refused at subscribe time, and one that grows larger ends with an `error` event.',
    }),
    rerun_max_ms: key(positiveInt(1, 600_000).default(1_000), {
      doc: 'Longest one re-run of such a subscription may take; one that takes longer is refused at subscribe time, or ends with an `error` event.',
    }),
    sql_max_bytes: key(positiveInt(1_024, 8_388_608).default(65_536), {
      doc: "Longest SQL text of a subscription (UTF-8 bytes); a longer one is refused with `PATINA_ERR_STATEMENT_INVALID` before it is planned. Planning reads the whole text on the node's main thread, so a statement of megabytes would hold it for seconds.",
    }),
    rerun_max_share: key(z.number().gt(0).max(1).default(0.25), {
      doc: 'Largest share of time the re-runs of one subscription may take: after a re-run of d ms the next waits at least d × (1/share − 1) ms, and the commits in between are coalesced into it.',
    }),
  })
  .prefault({})

const api = z
  .strictObject({
    addr: key(
      z
        .union([hostPort, z.array(hostPort).min(1)])
        .default(['127.0.0.1:8080'])
        .transform((v) => (typeof v === 'string' ? [v] : v)),
      {
        doc: 'HTTP API listen address(es), `host:port`; one string or an array.',
        aliases: ['bind_addr'],
        typeLabel: 'string | string[]',
      },
    ),
    endpoint_name: key(z.string().min(1).max(255).optional(), {
      doc: 'Name of this endpoint (Corrosion `api.endpoint_name`). A request whose `x-corrosion-requested-endpoint-name` header names another endpoint gets 421 `PATINA_ERR_MISDIRECTED`; requests without the header pass.',
    }),
    external_addr: key(hostPort.optional(), {
      doc: 'API address other members and edges use to reach this node (`host:port`), when it differs from `addr` (a wildcard listen address, NAT, containers). Shown as `api_addr` in `GET /v1/cluster/members`.',
    }),
    authorization: key(authorization, {
      doc: 'API authorization (Corrosion `authz`).',
      aliases: ['authz'],
    }),
    limits,
    concurrency,
    subscriptions,
  })
  .prefault({})

const admin = z
  .strictObject({
    path: key(path.optional(), {
      doc: 'Unix socket of the admin interface (`patina reload`, `backup`, `sync status`, `subs list`, `log set`).',
      aliases: ['uds_path'],
      defaultLabel: '<db dir>/admin.sock',
      path: true,
    }),
  })
  .prefault({})

const telemetry = z
  .strictObject({
    prometheus: z
      .strictObject({
        addr: key(hostPort.optional(), {
          doc: 'Extra listener serving only Prometheus metrics at `/metrics` (they are always on the API at `/metrics` too).',
        }),
      })
      .prefault({}),
  })
  .prefault({})

const log = z
  .strictObject({
    format: key(
      z
        .enum(['json', 'pretty', 'plaintext'])
        .default('json')
        .transform((v) => (v === 'plaintext' ? 'pretty' : v)),
      {
        doc: 'Log line format: `json` (one object per line) or `pretty` (human readable; Corrosion calls it `plaintext`).',
      },
    ),
    level: key(z.enum(LOG_LEVELS).default('info'), {
      doc: 'Lowest level written; change it at runtime with `patina log set <level>`.',
    }),
    colors: key(z.boolean().default(true), {
      doc: 'Colors in `pretty` output (Corrosion `log.colors`).',
    }),
  })
  .prefault({})

/** The configuration file's shape, before load-time derivations. Docs and env names come from here. */
export const ConfigShape = z.strictObject({ db, gossip, api, admin, telemetry, log })

/** What {@link ConfigShape} accepts (a deep partial TOML document). */
export type ConfigInput = z.input<typeof ConfigShape>
/** The validated configuration, before derived defaults are filled in. */
export type ParsedConfig = z.output<typeof ConfigShape>

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T

/** Derived defaults that depend on other keys; filled in by `loadConfig`. */
export type ResolvedConfig = Omit<ParsedConfig, 'db' | 'admin'> & {
  db: ParsedConfig['db'] & { subscriptions_path: string }
  admin: { path: string }
}

/** The frozen configuration every component receives. */
export type PatinaConfig = DeepReadonly<ResolvedConfig>

/**
 * Keys that Corrosion knows and Patina does not implement. They are accepted (so Corrosion
 * configs load) and reported as warnings. A key path ending in `*` covers a whole section.
 */
export const CORROSION_ONLY_KEYS: readonly string[] = [
  'db.cache_size_kib',
  'api.pg',
  'gossip.client_addr',
  'gossip.tls',
  'gossip.max_mtu',
  'gossip.idle_timeout_secs',
  'gossip.disable_gso',
  'gossip.member_id',
  'gossip.compression',
  'gossip.broadcast',
  'telemetry.open-telemetry',
  'perf.*',
  'consul.*',
  'reaper.*',
]
