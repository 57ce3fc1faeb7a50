/** A fake `WatchSource`: live subscriptions whose rows, readiness and failures a test drives. */
import type { JsonSqlValue, JsonStatement, RowId } from '@patina/api'
import type { LiveStatus, LiveSubscription } from '@patina/client'
import type { WatchSource } from '../src/queries.js'

export interface FakeLive {
  statement: JsonStatement
  columns: string[]
  rows: Map<RowId, JsonSqlValue[]>
  closed: boolean
  lagMs: number | null
  state: LiveStatus['state']
  /** Delivers the first snapshot (resolves `ready`, emits a change). */
  snapshot(columns: string[], rows: JsonSqlValue[][]): void
  /** Replaces row `rowid` (or inserts it) and emits a change. */
  set(rowid: number, cells: JsonSqlValue[]): void
  delete(rowid: number): void
  /** Fails the subscription as the client does for a refused query. */
  fail(message: string): void
}

export function fakeSource(
  opts: { autoSnapshot?: (s: JsonStatement) => { columns: string[]; rows: JsonSqlValue[][] } | null } = {},
) {
  const opened: FakeLive[] = []
  const source: WatchSource = {
    watch(statement) {
      const listeners = new Map<string, Set<(v: unknown) => void>>()
      let resolveReady!: () => void
      let rejectReady!: (e: Error) => void
      const ready = new Promise<void>((res, rej) => {
        resolveReady = res
        rejectReady = rej
      })
      ready.catch(() => {})
      const emit = (ev: string, v: unknown) => {
        for (const l of listeners.get(ev) ?? []) l(v)
      }
      const f: FakeLive = {
        statement,
        columns: [],
        rows: new Map(),
        closed: false,
        lagMs: 5,
        state: 'connecting',
        snapshot(columns, rows) {
          f.columns = columns
          rows.forEach((r, i) => f.rows.set(i + 1, r))
          f.state = 'live'
          resolveReady()
          emit('change', { type: 'insert' })
        },
        set(rowid, cells) {
          f.rows.set(rowid, cells)
          emit('change', { type: 'update' })
        },
        delete(rowid) {
          f.rows.delete(rowid)
          emit('change', { type: 'delete' })
        },
        fail(message) {
          f.state = 'failed'
          rejectReady(new Error(message))
          emit('status', { state: 'failed', lastError: message })
        },
      }
      const live = {
        get columns() {
          return f.columns
        },
        get rows() {
          return f.rows
        },
        ready,
        status: () => ({ state: f.state, lagMs: f.lagMs, lastError: null }),
        on(ev: string, l: (v: unknown) => void) {
          if (!listeners.has(ev)) listeners.set(ev, new Set())
          listeners.get(ev)!.add(l)
          return () => listeners.get(ev)?.delete(l)
        },
        async close() {
          f.closed = true
          f.state = 'closed'
        },
      }
      opened.push(f)
      const snap = opts.autoSnapshot?.(statement)
      if (snap) queueMicrotask(() => f.snapshot(snap.columns, snap.rows))
      return live as unknown as LiveSubscription
    },
  }
  const find = (sql: string) => opened.filter((f) => !f.closed && JSON.stringify(f.statement).includes(sql))
  return { source, opened, find }
}
