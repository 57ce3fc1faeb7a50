/**
 * The two ways the node's components register their prom-client metrics in an injected
 * registry, so that a component built twice on one registry (tests, several API servers)
 * shares its metrics instead of failing on a duplicate name:
 * - {@link perRegistry}: a set of metrics built once per registry;
 * - {@link counterIn} / {@link gaugeIn} / {@link histogramIn}: one metric, the registry's own if it holds that name.
 */
import {
  Counter,
  Gauge,
  Histogram,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
  type Registry,
} from 'prom-client'

/** `build` runs once per registry; later calls with that registry return its first result. */
export function perRegistry<T>(build: (registry: Registry) => T): (registry: Registry) => T {
  const cache = new WeakMap<Registry, T>()
  return (registry) => {
    const hit = cache.get(registry)
    if (hit !== undefined) return hit
    const made = build(registry)
    cache.set(registry, made)
    return made
  }
}

type Config<C> = Omit<C, 'registers'>

const metricIn = <M>(registry: Registry, name: string, make: () => M): M =>
  (registry.getSingleMetric(name) as M | undefined) ?? make()

/** The counter named `config.name` in `registry`, registered there if absent. */
export const counterIn = <L extends string>(
  registry: Registry,
  config: Config<CounterConfiguration<L>>,
): Counter<L> => metricIn(registry, config.name, () => new Counter<L>({ ...config, registers: [registry] }))

/** The gauge named `config.name` in `registry`, registered there if absent. */
export const gaugeIn = <L extends string>(
  registry: Registry,
  config: Config<GaugeConfiguration<L>>,
): Gauge<L> => metricIn(registry, config.name, () => new Gauge<L>({ ...config, registers: [registry] }))

/** The histogram named `config.name` in `registry`, registered there if absent. */
export const histogramIn = <L extends string>(
  registry: Registry,
  config: Config<HistogramConfiguration<L>>,
): Histogram<L> =>
  metricIn(registry, config.name, () => new Histogram<L>({ ...config, registers: [registry] }))
