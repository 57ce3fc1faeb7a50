/** The templates' Prometheus metrics (prom-client), labelled by template name. */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { TemplateStatus } from './runner.js'

export type RenderOutcome = 'written' | 'unchanged'
export type ErrorStage = 'template' | 'render' | 'query' | 'write' | 'command'

export interface TemplateMetrics {
  renders: Counter<'template' | 'result'>
  errors: Counter<'template' | 'stage'>
  commands: Counter<'template' | 'result'>
}

/** Registers the metrics once per registry; gauges read `statuses()` when scraped. */
export function registerTemplateMetrics(
  registry: Registry,
  statuses: () => Iterable<TemplateStatus>,
): TemplateMetrics {
  const renders = new Counter({
    name: 'patina_template_renders_total',
    help: 'Complete renders, by template and result (written: the file changed; unchanged: same text, not written)',
    labelNames: ['template', 'result'] as const,
    registers: [registry],
  })
  const errors = new Counter({
    name: 'patina_template_errors_total',
    help: 'Failed renders, by template and stage (template: compile or reload, render, query, write, command); the last good file stays',
    labelNames: ['template', 'stage'] as const,
    registers: [registry],
  })
  const commands = new Counter({
    name: 'patina_template_commands_total',
    help: 'Commands run after a render that changed the file, by template and result (ok, failed)',
    labelNames: ['template', 'result'] as const,
    registers: [registry],
  })
  const gauge = (name: string, help: string, value: (s: TemplateStatus) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['template'] as const,
      registers: [registry],
      collect() {
        for (const s of statuses()) this.set({ template: s.name }, value(s))
      },
    })
  }
  const seconds = (ms: number | null) => (ms === null ? 0 : ms / 1000)
  gauge(
    'patina_template_last_render_timestamp_seconds',
    'Unix time of the last complete render (written or unchanged); 0 before the first',
    (s) => seconds(s.lastRenderAt),
  )
  gauge(
    'patina_template_last_write_timestamp_seconds',
    'Unix time the file was last written with new content; 0 before the first',
    (s) => seconds(s.lastWriteAt),
  )
  gauge(
    'patina_template_data_staleness_seconds',
    'How old the data of the last render may be: the longest time since one of its subscriptions heard from its worker (-1 when unknown)',
    (s) => (s.stalenessMs === null ? -1 : s.stalenessMs / 1000),
  )
  gauge('patina_template_healthy', '1 when the last render succeeded and the template file loads', (s) =>
    s.healthy ? 1 : 0,
  )
  gauge('patina_template_subscriptions', 'Live subscriptions the template holds open', (s) => s.subscriptions)
  return { renders, errors, commands }
}
