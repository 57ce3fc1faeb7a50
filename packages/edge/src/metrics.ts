/** The edge's Prometheus metrics (prom-client), read from the queries' subscriptions when scraped. */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { LiveStatus } from '@patina/client'
import type { EdgeQueryHealth } from './health.js'

export interface EdgeMetricsSource {
  /** The configured query names. */
  names(): Iterable<string>
  status(name: string): LiveStatus | null
  health(name: string): EdgeQueryHealth
  now(): number
  /** Wall-clock ms the edge started (staleness before the first word from a worker). */
  startedAt: number
}

/** Counters the edge increments itself. */
export interface EdgeMetrics {
  events: Counter<'query' | 'type'>
  lookups: Counter<'query' | 'result'>
}

export function registerEdgeMetrics(registry: Registry, src: EdgeMetricsSource): EdgeMetrics {
  const labelNames = ['query'] as const
  const events = new Counter({
    name: 'patina_edge_events_total',
    help: 'Row changes applied to the edge views, by query and type (insert, update, delete)',
    labelNames: ['query', 'type'] as const,
    registers: [registry],
  })
  const lookups = new Counter({
    name: 'patina_edge_lookups_total',
    help: 'Lookups served, by query and result (hit, miss, unsynced)',
    labelNames: ['query', 'result'] as const,
    registers: [registry],
  })
  const gauge = (name: string, help: string, value: (q: string) => number): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        for (const q of src.names()) this.set({ query: q }, value(q))
      },
    })
  }
  gauge(
    'patina_edge_staleness_seconds',
    'Seconds since the edge last heard from the worker feeding each query (since start if never)',
    (q) => Math.max(0, src.now() - (src.status(q)?.lastHeardAt ?? src.startedAt)) / 1000,
  )
  gauge(
    'patina_edge_worker_contact_age_seconds',
    'Estimated seconds since the worker feeding each query last heard from another member of its cluster (-1 when it does not say)',
    (q) => {
      const a = src.status(q)?.workerContactAgeMs ?? null
      return a === null ? -1 : a / 1000
    },
  )
  gauge('patina_edge_rows', 'Rows held in memory per query', (q) => src.status(q)?.rows ?? 0)
  gauge('patina_edge_connected', '1 when the query is attached to a worker and following its changes', (q) =>
    src.status(q)?.state === 'live' ? 1 : 0,
  )
  gauge(
    'patina_edge_stale',
    '1 when the query is stale (not connected, worker silent for more than stale_after_ms, or worker cut off from its cluster)',
    (q) => (src.health(q).stale ? 1 : 0),
  )
  gauge(
    'patina_edge_standby_ready',
    '1 when the query has a ready hot standby on another worker (a failover there needs no snapshot)',
    (q) => (src.status(q)?.standby?.ready === true ? 1 : 0),
  )
  gauge(
    'patina_edge_standby_differing_rows',
    'Rows where the standby worker differs from the view at the moment (held by the edge)',
    (q) => src.status(q)?.standby?.differing ?? 0,
  )
  const counterFrom = (metric: string, help: string, field: keyof LiveStatus['counters']): void => {
    const seen = new Map<string, number>()
    new Counter({
      name: metric,
      help,
      labelNames,
      registers: [registry],
      collect() {
        for (const q of src.names()) {
          const v = src.status(q)?.counters[field] ?? 0
          const d = v - (seen.get(q) ?? 0)
          if (d > 0) this.inc({ query: q }, d)
          seen.set(q, v)
        }
      },
    })
  }
  counterFrom(
    'patina_edge_failovers_total',
    'Subscriptions moved to another worker after a failure, or away from a worker cut off from its cluster',
    'failovers',
  )
  counterFrom(
    'patina_edge_standby_failovers_total',
    'Failovers that adopted the standby subscription (re-attached with from, no snapshot)',
    'standbyFailovers',
  )
  counterFrom(
    'patina_edge_switches_total',
    'Subscriptions moved back to a preferred (nearer) worker',
    'switches',
  )
  counterFrom(
    'patina_edge_switches_deferred_total',
    'Moves to a preferred worker given up because it lacked versions the view may already show',
    'switchesDeferred',
  )
  counterFrom(
    'patina_edge_resumes_total',
    'Subscription reconnections resumed with from=<change id>',
    'resumes',
  )
  counterFrom(
    'patina_edge_missed_changes_total',
    'Gaps in change ids detected (followed by a resync)',
    'missedChanges',
  )
  counterFrom(
    'patina_edge_subscription_errors_total',
    'Subscription interruptions (network, protocol, server errors)',
    'errors',
  )
  return { events, lookups }
}
