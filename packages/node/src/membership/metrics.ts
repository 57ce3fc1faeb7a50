/**
 * Prometheus metrics of membership health (isolation, flaps, local health, bootstrap),
 * registered once per registry. The older membership metrics (`patina_members`,
 * `patina_membership_transitions_total`, `patina_probes_total`) are in `runtime/metrics.ts`.
 */
import { Counter, Gauge } from 'prom-client'
import { perRegistry } from '../runtime/metric-registry.js'

export interface MembershipMetrics {
  isolated: Gauge
  lastContact: Gauge
  reachable: Gauge
  flaps: Counter<'from'>
  healthScore: Gauge
  bootstrapContacts: Counter<'result'>
  probesInconclusive: Counter
}

/** Registered once per registry. */
export const membershipMetrics = perRegistry((registry): MembershipMetrics => {
  const registers = [registry]
  return {
    isolated: new Gauge({
      name: 'patina_cluster_isolated',
      help: '1 while this node expects peers and has had no other member alive for longer than gossip.isolation_after_ms',
      registers,
    }),
    lastContact: new Gauge({
      name: 'patina_cluster_last_contact_timestamp_seconds',
      help: 'Unix time at which this node last received anything from another member (0: never)',
      registers,
    }),
    reachable: new Gauge({
      name: 'patina_cluster_reachable_members',
      help: 'Other members currently alive in this node’s view',
      registers,
    }),
    flaps: new Counter({
      name: 'patina_membership_flaps_total',
      help: 'Members seen alive again without having restarted after this node held them suspect or down (false positives), by the state they came back from',
      labelNames: ['from'],
      registers,
    }),
    healthScore: new Gauge({
      name: 'patina_membership_health_score',
      help: 'Local health awareness score (0 = healthy); probe intervals and timeouts are scaled by score + 1',
      registers,
    }),
    bootstrapContacts: new Counter({
      name: 'patina_bootstrap_contacts_total',
      help: 'Contacts with configured bootstrap entries, by result (ok, self, failed)',
      labelNames: ['result'],
      registers,
    }),
    probesInconclusive: new Counter({
      name: 'patina_probes_inconclusive_total',
      help: 'Probe rounds ignored because this node’s own timers fired late (a busy event loop)',
      registers,
    }),
  }
})
