import type { Registry } from 'prom-client'
import { counterIn, gaugeIn, histogramIn } from '../runtime/metric-registry.js'
import { statementInterrupts } from '../api/deadlines.js'

/** Why a subscription stopped being maintained (label of `patina_subscription_failures_total`). */
export type FailureReason =
  'sql_error' | 'rerun_rows' | 'rerun_time' | 'timeout' | 'schema_change' | 'columns_changed'

export interface HubMetrics {
  changes: { inc(n: number): void }
  /** Duration of one maintenance step, by `maintenance` (`incremental` or `rerun`), seconds. */
  process: { observe(labels: { maintenance: string }, v: number): void }
  failures: { inc(labels: { reason: FailureReason }): void }
  /** A subscription statement was stopped at its deadline (`patina_statement_interrupts_total`). */
  interrupted(): void
}

export function createHubMetrics(
  registry: Registry | undefined,
  sample: () => { subs: number; listeners: number; broken: number },
): HubMetrics {
  if (!registry)
    return { changes: { inc() {} }, process: { observe() {} }, failures: { inc() {} }, interrupted() {} }
  const interrupts = statementInterrupts(registry)
  const interrupted = (): void => interrupts.inc({ kind: 'subscription' })
  // a second hub on one registry shares the first one's metrics (and its gauges' sample)
  const gauge = (name: string, help: string, value: () => number): void => {
    gaugeIn(registry, {
      name,
      help,
      collect() {
        this.set(value())
      },
    })
  }
  gauge('patina_subscriptions', 'Live subscriptions on this node', () => sample().subs)
  gauge('patina_subscription_listeners', 'Open subscription streams on this node', () => sample().listeners)
  gauge(
    'patina_subscriptions_failed',
    'Subscriptions no longer maintained after a failure (a new subscriber retries them)',
    () => sample().broken,
  )
  return {
    changes: counterIn(registry, {
      name: 'patina_subscription_changes_total',
      help: 'Change events produced by subscriptions',
    }),
    process: histogramIn(registry, {
      name: 'patina_subscription_process_seconds',
      help: 'Time of one maintenance step of one subscription, by maintenance (incremental or rerun)',
      labelNames: ['maintenance'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    }),
    failures: counterIn(registry, {
      name: 'patina_subscription_failures_total',
      help: 'Subscriptions that stopped being maintained and ended their streams with an error, by reason',
      labelNames: ['reason'],
    }),
    interrupted,
  }
}
