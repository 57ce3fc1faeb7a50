import { PatinaError } from '@patina/api'
import { encodeKey, type CommitEvent, type SchemaModel } from '@patina/core'
import { keyJson, lines } from '../wire/json.js'
import type { EventSink } from './sink.js'

/**
 * Table-level primary-key notifications (`POST /v1/updates/:table`, Corrosion's
 * `UpdatesManager`): one watch per table shared by its listeners, no snapshot, no resume.
 */
export interface TableWatches {
  /** Adds a listener for `table`; returns the watch id. */
  watch(table: string, sink: EventSink): string
  notify(ev: CommitEvent): void
  close(): void
}

export function createTableWatches(schema: () => SchemaModel, newId: () => string): TableWatches {
  const watches = new Map<string, { id: string; sinks: Set<EventSink> }>()
  return {
    watch(table, sink) {
      const model = schema().tables.get(table)
      if (!model) {
        throw new PatinaError(
          'PATINA_ERR_UNKNOWN_TABLE',
          `table ${JSON.stringify(table)} is not a table of the schema`,
        )
      }
      if (model.pk.length === 0) {
        throw new PatinaError('PATINA_ERR_UNKNOWN_TABLE', `table ${JSON.stringify(table)} has no primary key`)
      }
      let w = watches.get(model.name)
      if (!w) watches.set(model.name, (w = { id: newId(), sinks: new Set() }))
      const watch = w
      watch.sinks.add(sink)
      sink.onClose(() => {
        watch.sinks.delete(sink)
        if (watch.sinks.size === 0 && watches.get(model.name) === watch) watches.delete(model.name)
      })
      return watch.id
    },
    notify(ev) {
      if (watches.size === 0) return
      const seen = new Set<string>()
      for (const row of ev.rows) {
        const w = watches.get(row.table)
        if (!w) continue
        const k = row.table + '\u0000' + encodeKey(row.pkValues)
        if (seen.has(k)) continue
        seen.add(k)
        const line = lines.notify(row.deleted ? 'delete' : 'update', keyJson(row.pkValues))
        for (const s of w.sinks) s.write(line)
      }
    },
    close() {
      for (const w of watches.values()) for (const s of [...w.sinks]) s.end()
    },
  }
}
