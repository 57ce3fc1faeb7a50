import { readFile } from 'node:fs/promises'
import { parse as parseToml } from 'smol-toml'
import { z } from 'zod'
import { PatinaClientError } from '@patina/client'

const NAME_RE = /^[A-Za-z0-9_-]+$/

const jsonParam = z.union([
  z.null(),
  z.boolean(),
  z.number(),
  z.string(),
  z.array(z.unknown()),
  z.record(z.string(), z.unknown()),
])

const querySchema = z.strictObject({
  /** Name used in the lookup URLs (`/v1/lookup/<name>`). Letters, digits, `_` and `-`. */
  name: z.string().regex(NAME_RE, 'must be letters, digits, "_" or "-"'),
  /** The SELECT to keep subscribed. */
  sql: z.string().min(1, 'must not be empty'),
  /** Positional (array) or named (`{ ":name" = value }`) parameters. */
  params: z
    .union([
      z.array(jsonParam),
      z.record(z.string().regex(/^[:@$]/, 'named parameters start with ":", "@" or "$"'), jsonParam),
    ])
    .optional(),
  /** The columns to index rows by (and to match rows across workers); usually the primary key. */
  key: z.array(z.string().min(1)).min(1, 'must name at least one column'),
})

const ms = (def: number, min = 0): z.ZodDefault<z.ZodNumber> => z.number().int().min(min).default(def)

const templateSchema = z.strictObject({
  /** The template file (Eta; see docs/templates.md). Re-loaded when edited. */
  src: z.string().min(1, 'must name the template file'),
  /** The file to render, written atomically; its folder must exist. */
  dst: z.string().min(1, 'must name the output file'),
  /** Shell command run (`sh -c`) after a render that changed `dst`, e.g. `nginx -s reload`. */
  cmd: z.string().min(1, 'must not be empty (leave it out for no command)').optional(),
  /** Name in logs, metrics and health; default: `dst`. */
  name: z.string().min(1).optional(),
})

/** The edge daemon's configuration schema (snake_case keys, as in the TOML file). */
export const edgeConfigSchema = z
  .strictObject({
    /** Worker API base URLs (`http://host:port` or `host:port`); with `discover`, these are the seeds. */
    workers: z.array(z.string().min(1)).min(1, 'must list at least one worker URL'),
    /** Also use the workers listed by `GET /v1/cluster/members`. */
    discover: z.boolean().default(false),
    /** Bearer token for the workers (a read-only token is enough). */
    token: z.string().min(1).optional(),
    /** Address the lookup API listens on, `host:port` (port 0 = any free port). */
    listen: z
      .string()
      .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'must be host:port')
      .default('127.0.0.1:8900'),
    /** File to persist the views to (atomic rename) and to load them from on start; unset = no persistence. */
    state_file: z.string().min(1).optional(),
    /** Time between saves of the state file while the views change, in milliseconds. */
    persist_interval_ms: ms(1_000, 10),
    /**
     * A query counts as stale when its worker has not been heard from for this long, or when the
     * worker has not heard from the rest of its cluster for this long, in milliseconds.
     */
    stale_after_ms: ms(10_000, 1),
    /**
     * A worker that has heard from no other member of its cluster for longer than this (or says
     * it is isolated) counts as cut off: the edge ranks it last but one, moves away from it when
     * another worker answers, and marks queries served from it stale. In milliseconds; default
     * `stale_after_ms / 2`, so that the edge moves before its queries go stale.
     */
    max_contact_ms: z.number().int().min(1).optional(),
    /**
     * Follow each query on the next worker in rank as well (a hot standby: one snapshot when it
     * is made, then its changes, held as differences from the view), so that a failover there
     * re-attaches with `from` and needs no snapshot. Costs that worker one subscriber, and the
     * edge a few bytes per row. Off by default: adopting the standby can move the view back for
     * a row still in flight to the standby's worker (a delete emitted for a row nobody deleted,
     * then its insert again), which a snapshot taken at failover time makes rare (issue 18).
     */
    standby: z.boolean().default(false),
    /** Time between health probes of every worker, in milliseconds. */
    probe_interval_ms: ms(2_000, 10),
    /** Health probe timeout in milliseconds. */
    probe_timeout_ms: ms(2_000, 10),
    /** Deadline for a subscription (re)connection to answer, in milliseconds. */
    connect_timeout_ms: ms(10_000, 10),
    /** Longest accepted NDJSON line in bytes. */
    max_line_bytes: ms(8 * 1024 * 1024, 1024),
    /** The named queries to keep subscribed. */
    queries: z.array(querySchema).default([]),
    /** Files rendered from live queries (`[[templates]]`, as `patina template`). */
    templates: z.array(templateSchema).default([]),
    /** Templates: quiet time after a change before rendering, in milliseconds. */
    template_debounce_ms: ms(100),
    /** Templates: longest a change waits for a render while changes keep coming, in milliseconds. */
    template_max_delay_ms: ms(1_000),
    /** Templates: deadline of a template's command, in milliseconds (killed after it, counted as failed). */
    template_command_timeout_ms: ms(30_000, 1),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.queries.length === 0 && cfg.templates.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['queries'],
        message: 'must define at least one [[queries]] table (or a [[templates]] table)',
      })
    const dsts = new Set<string>()
    cfg.templates.forEach((t, i) => {
      const name = t.name ?? t.dst
      if (dsts.has(name))
        ctx.addIssue({
          code: 'custom',
          path: ['templates', i, t.name === undefined ? 'dst' : 'name'],
          message: 'is already used by another template; each template needs its own output file and name',
        })
      dsts.add(name)
    })
    const seen = new Set<string>()
    cfg.queries.forEach((q, i) => {
      if (seen.has(q.name))
        ctx.addIssue({
          code: 'custom',
          path: ['queries', i, 'name'],
          message: 'is already used by another query; names must be unique',
        })
      seen.add(q.name)
    })
    const port = Number(cfg.listen.slice(cfg.listen.lastIndexOf(':') + 1))
    if (port > 65535) ctx.addIssue({ code: 'custom', path: ['listen'], message: 'port must be 0..65535' })
  })

export type EdgeConfig = z.output<typeof edgeConfigSchema>

/** `max_contact_ms`, or its default: half of `stale_after_ms` (at least 1). */
export function effectiveMaxContactMs(c: Pick<EdgeConfig, 'max_contact_ms' | 'stale_after_ms'>): number {
  return c.max_contact_ms ?? Math.max(1, Math.floor(c.stale_after_ms / 2))
}
export type EdgeConfigInput = z.input<typeof edgeConfigSchema>
export type EdgeQueryConfig = EdgeConfig['queries'][number]
export type EdgeTemplateConfig = EdgeConfig['templates'][number]

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined
    v = (v as Record<PropertyKey, unknown>)[p]
  }
  return v
}

function keyPath(path: readonly PropertyKey[]): string {
  let s = ''
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? String(p) : `.${String(p)}`
  return s === '' ? '(top level)' : s
}

/**
 * The keys allowed at each level, read off the schema (a new section, such as the coming
 * `[[templates]]`, is one entry in the schema and shows up here by itself).
 */
const ALLOWED_KEYS: Record<string, string[]> = {
  '': Object.keys(edgeConfigSchema.shape),
  queries: Object.keys(querySchema.shape),
  templates: Object.keys(templateSchema.shape),
}

/**
 * Validates a parsed config object, fills in defaults and freezes it. Throws
 * `PATINA_ERR_CONFIG_INVALID` whose message lists every problem with its key, value and what
 * is allowed.
 */
export function validateEdgeConfig(input: unknown, source = 'edge config'): EdgeConfig {
  const r = edgeConfigSchema.safeParse(input)
  if (!r.success) {
    const problems = r.error.issues.map((iss) => {
      if (iss.code === 'unrecognized_keys') {
        const where = String(iss.path.find((p) => typeof p === 'string') ?? '')
        const keys = iss.keys.map((k) => keyPath([...iss.path, k])).join(', ')
        return `unknown key ${keys}; allowed: ${(ALLOWED_KEYS[where] ?? []).join(', ')}`
      }
      const value = valueAt(input, iss.path)
      const shown = value === undefined ? 'missing' : `value ${JSON.stringify(value)}`
      return `key ${keyPath(iss.path)} ${shown} is invalid: ${iss.message}`
    })
    throw new PatinaClientError('PATINA_ERR_CONFIG_INVALID', `${source}: ${problems.join('; ')}`)
  }
  return deepFreeze(r.data)
}

/** Parses TOML text into a validated {@link EdgeConfig}. */
export function parseEdgeConfig(toml: string, source = 'edge config'): EdgeConfig {
  let raw: unknown
  try {
    raw = parseToml(toml)
  } catch (err) {
    throw new PatinaClientError(
      'PATINA_ERR_CONFIG_INVALID',
      `${source} is not valid TOML: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
  return validateEdgeConfig(raw, source)
}

/** Reads and validates a TOML config file. */
export async function loadEdgeConfig(path: string): Promise<EdgeConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new PatinaClientError(
      'PATINA_ERR_CONFIG_INVALID',
      `cannot read edge config file ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
  return parseEdgeConfig(text, `edge config ${path}`)
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const x of Object.values(v)) deepFreeze(x)
  }
  return v
}
