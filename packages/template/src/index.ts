/**
 * @packageDocumentation
 *
 * `@patina/template`: files rendered from live Patina state, as Corrosion's `corrosion
 * template`. A template is an Eta file (`<% %>` code, `<%= %>` values); every `sql(...)` it
 * calls becomes a live subscription through `@patina/client`, and the file is re-rendered
 * (debounced) when their rows change, written atomically, and followed by a command (e.g.
 * `nginx -s reload`) when its content changed. Used by `patina template` (`@patina/node`) and by
 * the edge's `[[templates]]` (`@patina/edge`); it needs no native module and no worker code.
 *
 * @example
 * ```ts
 * import { createClient } from '@patina/client'
 * import { createTemplateSet, parseTemplateSpec } from '@patina/template'
 *
 * const client = createClient({ workers: ['http://127.0.0.1:8080'] })
 * const set = createTemplateSet([parseTemplateSpec('upstreams.eta:/etc/nginx/conf.d/up.conf:nginx -s reload')], {}, { source: client })
 * await set.start() // re-renders on every change until set.stop()
 * ```
 */
export { parseTemplateSpec, type TemplateSpec } from './spec.js'
export {
  createTemplateSet,
  TEMPLATE_DEFAULTS,
  type TemplateSet,
  type TemplateSetDeps,
  type TemplateOptions,
  type TemplateHealth,
  type TemplatesHealth,
} from './set.js'
export type { TemplateStatus, TemplateLogger } from './runner.js'
export { compileTemplate, TemplateError, HELPER_NAMES, type CompiledTemplate } from './engine.js'
export { TemplateOutputError, writeAtomic } from './output.js'
export { renderDueAt, DEBOUNCE_DEFAULTS, type DebounceOptions } from './debounce.js'
export {
  toJson,
  toCsv,
  csvField,
  nginxString,
  haproxyString,
  toText,
  isNull,
  compareSqlValues,
  TemplateValueError,
} from './format.js'
export { buildResult, type QueryResult, type Row } from './result.js'
export type { WatchSource } from './queries.js'
export { serveTemplateStatus } from './serve.js'
