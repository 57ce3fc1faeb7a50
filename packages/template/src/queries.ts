/**
 * The live queries of one template. Every distinct `sql(query, params)` a render calls becomes a
 * live subscription of `@patina/client` (`client.watch`: resume, failover and reconciliation
 * come with it), opened the first time a render asks for it and closed when a complete render
 * no longer does. A render reads the views synchronously; a query whose first snapshot has not
 * arrived yet makes the render *pending* (nothing is written) until it has.
 */
import type { JsonParam, JsonStatement } from '@patina/api'
import { PatinaError } from '@patina/api'
import type { LiveSubscription, WatchOptions } from '@patina/client'
import { TemplateValueError } from './format.js'
import { buildResult, type QueryResult } from './result.js'

/** What the queries need from the client (`PatinaClient` fits). */
export interface WatchSource {
  watch(statement: JsonStatement, opts?: WatchOptions): LiveSubscription
}

interface Entry {
  key: string
  statement: JsonStatement
  live: LiveSubscription
  /** Settled: the first snapshot arrived (or the subscription failed). */
  settled: Promise<void>
  failure: Error | null
  ready: boolean
  off: Array<() => void>
}

/** One render's use of the queries. */
export interface RenderPass {
  /** The `sql` helper of this render. */
  sql(query: unknown, params?: unknown): QueryResult
  /** Settles when every query this render found not ready yet has its first snapshot (or failed). */
  pending(): Promise<void> | null
  /** After a complete, successful render: closes the subscriptions it did not use. */
  commit(): void
}

export interface QuerySet {
  begin(): RenderPass
  /**
   * How old the data of the last committed render may be, in ms: the largest time since one
   * of its subscriptions last heard from its worker (the client's `lagMs`); null when unknown.
   */
  stalenessMs(): number | null
  /** True when one of the committed render's subscriptions is not following its worker now (reconnecting, failed). */
  disconnected(): boolean
  /** The number of open subscriptions. */
  size(): number
  close(): Promise<void>
}

const statementOf = (query: unknown, params: unknown): JsonStatement => {
  if (typeof query !== 'string' || query.trim() === '')
    throw new TemplateValueError(`sql(): the query must be a non-empty string, got ${JSON.stringify(query)}`)
  if (params === undefined) return query
  if (Array.isArray(params)) return [query, params as JsonParam[]]
  if (params !== null && typeof params === 'object') return [query, params as Record<string, JsonParam>]
  throw new TemplateValueError(
    `sql(): the parameters must be an array (positional) or an object (named, e.g. { ':host': 'a' }), got ${JSON.stringify(params)}`,
  )
}

const describe = (s: JsonStatement): string => {
  const sql = typeof s === 'string' ? s : Array.isArray(s) ? s[0] : ''
  const short = sql.replace(/\s+/g, ' ').trim()
  return JSON.stringify(short.length > 120 ? `${short.slice(0, 117)}...` : short)
}

/**
 * Creates the query set of a template. `onChange` is called when the data a render may have
 * read changes: a row change, a first snapshot, or a subscription that failed.
 */
export function createQuerySet(source: WatchSource, onChange: () => void): QuerySet {
  const entries = new Map<string, Entry>()
  let committed = new Set<string>()
  let closed = false

  const open = (key: string, statement: JsonStatement): Entry => {
    const live = source.watch(statement)
    const entry: Entry = {
      key,
      statement,
      live,
      settled: Promise.resolve(),
      failure: null,
      ready: false,
      off: [],
    }
    entry.settled = live.ready.then(
      () => {
        entry.ready = true
      },
      (e: unknown) => {
        entry.failure = e instanceof Error ? e : new Error(String(e))
      },
    )
    entry.off.push(live.on('change', () => onChange()))
    entry.off.push(
      live.on('status', (st) => {
        if (st.state === 'failed') {
          entry.failure ??= new Error(st.lastError ?? 'the subscription failed')
          onChange()
        }
      }),
    )
    entries.set(key, entry)
    return entry
  }

  const drop = (e: Entry): void => {
    for (const off of e.off) off()
    entries.delete(e.key)
    void e.live.close().catch(() => {})
  }

  return {
    begin() {
      const used = new Set<string>()
      const waiting: Promise<void>[] = []
      return {
        sql(query, params) {
          if (closed) throw new PatinaError('PATINA_ERR_CLOSED', 'the template is stopped')
          const statement = statementOf(query, params)
          const key = JSON.stringify(statement)
          used.add(key)
          const entry = entries.get(key) ?? open(key, statement)
          if (entry.failure) {
            // Dropped so that a later render subscribes afresh (the template may have been fixed).
            drop(entry)
            const f = entry.failure
            throw new PatinaError(
              f instanceof PatinaError ? f.code : 'PATINA_ERR_HTTP',
              `query ${describe(statement)} failed: ${f.message}`,
              { cause: f },
            )
          }
          if (!entry.ready) {
            waiting.push(entry.settled)
            return buildResult([], [])
          }
          return buildResult(entry.live.columns, entry.live.rows.values())
        },
        pending: () => (waiting.length === 0 ? null : Promise.all(waiting).then(() => undefined)),
        commit() {
          committed = used
          for (const e of [...entries.values()]) if (!used.has(e.key)) drop(e)
        },
      }
    },
    stalenessMs() {
      let worst = 0
      for (const k of committed) {
        const lag = entries.get(k)?.live.status().lagMs ?? null
        if (lag === null) return null
        worst = Math.max(worst, lag)
      }
      return worst
    },
    disconnected() {
      for (const k of committed) if (entries.get(k)?.live.status().state !== 'live') return true
      return false
    },
    size: () => entries.size,
    async close() {
      closed = true
      const all = [...entries.values()]
      for (const e of all) for (const off of e.off) off()
      entries.clear()
      await Promise.all(all.map((e) => e.live.close().catch(() => {})))
    },
  }
}
