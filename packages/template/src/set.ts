/**
 * A set of templates sharing one client: what `patina template` and the edge's `[[templates]]`
 * run. Registers the metrics, starts every template, and answers health.
 */
import { componentLogger } from '@patina/client'
import { Registry } from 'prom-client'
import { DEBOUNCE_DEFAULTS } from './debounce.js'
import { registerTemplateMetrics } from './metrics.js'
import type { WatchSource } from './queries.js'
import {
  createTemplateRunner,
  type RunnerOptions,
  type TemplateLogger,
  type TemplateRunner,
  type TemplateStatus,
} from './runner.js'
import type { TemplateSpec } from './spec.js'

export const TEMPLATE_DEFAULTS: RunnerOptions & { staleAfterMs: number } = {
  ...DEBOUNCE_DEFAULTS,
  commandTimeoutMs: 30_000,
  watchIntervalMs: 500,
  staleAfterMs: 10_000,
}

export type TemplateOptions = typeof TEMPLATE_DEFAULTS

export interface TemplateSetDeps {
  /** Where the queries subscribe: a `PatinaClient` (`createClient` of `@patina/client`). */
  source: WatchSource
  logger?: TemplateLogger
  /** Registry for the metrics (default: a new one). Register one set per registry. */
  registry?: Registry
  now?: () => number
}

export interface TemplateHealth extends TemplateStatus {
  /** The data may be older than `staleAfterMs` (or its age is unknown), or a query is not following its worker. */
  stale: boolean
}

export interface TemplatesHealth {
  /** Every template loads, rendered successfully last time, and its data is not stale. */
  ok: boolean
  templates: TemplateHealth[]
}

export interface TemplateSet {
  readonly registry: Registry
  /** Starts every template (throws the first clear start error: missing template, bad template, missing folder). */
  start(): Promise<void>
  /** Renders every template once; resolves to the failures (empty when all succeeded). */
  renderOnce(timeoutMs: number): Promise<Array<{ name: string; error: Error }>>
  health(): TemplatesHealth
  stop(): Promise<void>
}

const silent: TemplateLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silent,
}

/** Names default to the output path; a name used twice is refused. */
export function createTemplateSet(
  specs: ReadonlyArray<TemplateSpec & { name?: string }>,
  options: Partial<TemplateOptions>,
  deps: TemplateSetDeps,
): TemplateSet {
  const o = { ...TEMPLATE_DEFAULTS, ...options }
  const now = deps.now ?? Date.now
  const logger = componentLogger(deps.logger ?? silent, 'template')
  const registry = deps.registry ?? new Registry()
  const runners: TemplateRunner[] = []
  const metrics = registerTemplateMetrics(registry, () => runners.map((r) => r.status()))
  const seen = new Set<string>()
  for (const s of specs) {
    const name = s.name ?? s.dst
    if (seen.has(name))
      throw new Error(`template name ${JSON.stringify(name)} is used twice; names must be unique`)
    seen.add(name)
    runners.push(createTemplateRunner({ ...s, name }, o, { source: deps.source, logger, metrics, now }))
  }
  const healthOf = (s: TemplateStatus): TemplateHealth => ({
    ...s,
    stale: s.disconnected || s.stalenessMs === null || s.stalenessMs > o.staleAfterMs,
  })
  return {
    registry,
    async start() {
      for (const r of runners) await r.start()
    },
    async renderOnce(timeoutMs) {
      const failures: Array<{ name: string; error: Error }> = []
      for (const r of runners) {
        try {
          await r.renderOnce(timeoutMs)
        } catch (e) {
          failures.push({ name: r.name, error: e as Error })
        }
      }
      return failures
    },
    health() {
      const templates = runners.map((r) => healthOf(r.status()))
      return { ok: templates.every((t) => t.healthy && !t.stale), templates }
    },
    async stop() {
      await Promise.all(runners.map((r) => r.stop()))
    },
  }
}
