/**
 * A hot standby for a live subscription: the same subscription followed on the next worker in
 * rank, so that a failover there needs no snapshot. The standby stream takes one snapshot when it
 * is made, then its worker's changes; its rows are held as differences from the view
 * (`standby-rows.ts`: links to equal view rows, own cells only where the two workers differ for a
 * moment), with the standby subscription's own change id. On failover the live subscription takes
 * the standby ({@link Standby.take}: its stream is stopped first, so its rows are exactly those of
 * its last change id), re-attaches to that subscription with `from=<that change id>` and
 * reconciles the view with those rows: only real differences are emitted, nothing is lost or
 * repeated. Change ids are per subscription per worker: the position is only ever the standby
 * stream's own.
 *
 * The standby is dropped (and made again later, elsewhere when due) when its stream fails, when its
 * worker goes down or is cut off, when the view comes to follow its worker, and when the view's
 * columns change. It is made only while the view is live.
 */
import type { JsonStatement } from '@patina/api'
import type { StandbyPosition } from './live-machine.js'
import type { WorkerPool } from './pool.js'
import { createStandbyRows, type StandbyRows } from './standby-rows.js'
import type { ClientLogger, PatinaClient, StandbyStatus } from './types.js'
import type { MaterializedView, ViewDelta } from './view.js'
import type { WorkerStatus } from './workers.js'

/** A standby that failed: where and when. */
export interface StandbyMark {
  url: string
  at: number
}

export type StandbyAction = { kind: 'none' } | { kind: 'open'; url: string } | { kind: 'drop' }

/**
 * What to do with the standby after a probe round. Pure. `current`: the worker the live view
 * follows (null: not live; the standby is then kept as it is, it is what a failover needs);
 * `active`: the standby's worker (null: none); `failed`: the last standby that failed. A standby
 * is made on the best usable worker other than `current` that is not cut off, not within
 * `retryMs` of a failure on that same worker; it is dropped when it is on `current`, or its worker
 * is down or cut off.
 */
export function standbyAction(
  ranked: readonly WorkerStatus[],
  current: string | null,
  active: string | null,
  failed: StandbyMark | null,
  now: number,
  retryMs: number,
): StandbyAction {
  if (current === null) return { kind: 'none' }
  const fit = (w: WorkerStatus | undefined): boolean =>
    w !== undefined && w.state !== 'down' && w.state !== 'isolated'
  if (active !== null)
    return active === current || !fit(ranked.find((w) => w.url === active))
      ? { kind: 'drop' }
      : { kind: 'none' }
  const next = ranked.find((w) => w.url !== current && fit(w))
  if (next === undefined) return { kind: 'none' }
  if (failed !== null && failed.url === next.url && now - failed.at < retryMs) return { kind: 'none' }
  return { kind: 'open', url: next.url }
}

/** What a failover takes from the standby. */
export interface TakenStandby {
  position: StandbyPosition
  columns: string[]
  /** The standby worker's rows as of `position.changeId`, as differences from the view (`handOver()` for `MaterializedView.adoptRows`). */
  rows: StandbyRows
}

export interface Standby {
  /** The standby, when its rows are known (its snapshot ended), else null. */
  position(): StandbyPosition | null
  /** Stops the standby and hands over its rows and position (null: none ready). */
  take(): TakenStandby | null
  /** Every real difference applied to the view, right after it was applied. */
  viewChanged(d: ViewDelta): void
  /** Drops the standby (the view's columns changed, for instance). */
  drop(why: string): void
  /** After a probe round: make or drop the standby when due. `current`: the worker the live view follows, null when not live. */
  update(current: string | null): void
  status(): StandbyStatus | null
  close(): void
}

interface Active {
  url: string
  ac: AbortController
  rows: StandbyRows
  id: string | null
  changeId: number | null
  columns: string[] | null
}

const sameColumns = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((c, i) => c === b[i])

export function createStandby(
  deps: { client: PatinaClient; pool: WorkerPool; now: () => number; log: ClientLogger },
  statement: JsonStatement,
  view: MaterializedView,
  opts: { retryMs: number; connectTimeoutMs: number },
): Standby {
  const { client, pool, now, log } = deps
  let active: Active | null = null
  let failed: StandbyMark | null = null
  let closed = false

  const stop = (s: Active): void => {
    if (active === s) active = null
    s.ac.abort()
  }

  /** Reads the standby stream into `s.rows` until it fails, or until `s` is no longer the standby. */
  const follow = async (s: Active): Promise<void> => {
    const t0 = now()
    const stream = await client.subscribe(statement, {
      worker: s.url,
      signal: s.ac.signal,
      timeoutMs: opts.connectTimeoutMs,
    })
    try {
      s.id = stream.id
      for await (const batch of stream.batches()) {
        // between batches only: a standby taken or dropped applies nothing more
        if (active !== s) return
        for (const ev of batch) {
          if ('columns' in ev) {
            if (!sameColumns(ev.columns, view.columns))
              throw new Error(
                `its columns (${ev.columns.join(', ')}) are not the view's (${view.columns.join(', ')})`,
              )
            s.columns = ev.columns
          } else if ('row' in ev) {
            if (s.columns === null) throw new Error('it sent a row before its columns')
            s.rows.standbyRow('insert', ev.row[0], ev.row[1])
          } else if ('eoq' in ev) {
            if (s.changeId === null) {
              s.changeId = ev.eoq.change_id ?? 0
              log.debug(
                { worker: s.url, rows: s.rows.size, differing: s.rows.differing, ms: now() - t0 },
                'standby subscription ready',
              )
            }
          } else if ('change' in ev) {
            if (s.changeId === null) throw new Error('it sent a change before its snapshot ended')
            const [type, rowid, cells, cid] = ev.change
            s.rows.standbyRow(type, rowid, cells)
            s.changeId = cid
          } else if ('error' in ev) throw new Error(`it reported: ${ev.error}`)
        }
      }
      throw new Error('its stream ended')
    } finally {
      stream.close()
    }
  }

  const open = (url: string): void => {
    const s: Active = {
      url,
      ac: new AbortController(),
      rows: createStandbyRows(view),
      id: null,
      changeId: null,
      columns: null,
    }
    active = s
    follow(s).catch((err: unknown) => {
      if (active !== s) return
      active = null
      failed = { url, at: now() }
      if (!closed)
        log.debug(
          { worker: url, err: err instanceof Error ? err.message : String(err) },
          'standby subscription failed',
        )
    })
  }

  return {
    position() {
      const s = active
      if (s === null || s.id === null || s.changeId === null) return null
      return { worker: s.url, id: s.id, changeId: s.changeId }
    },
    take() {
      const s = active
      const position = this.position()
      if (s === null || position === null || s.columns === null) return null
      stop(s)
      return { position, columns: s.columns, rows: s.rows }
    },
    viewChanged(d) {
      active?.rows.viewChanged(d)
    },
    drop(why) {
      if (active === null) return
      log.debug({ worker: active.url, why }, 'standby subscription dropped')
      stop(active)
    },
    update(current) {
      if (closed) return
      let a = standbyAction(pool.list(), current, active?.url ?? null, failed, now(), opts.retryMs)
      if (a.kind === 'drop') {
        this.drop('its worker is the current one, down or cut off')
        a = standbyAction(pool.list(), current, null, failed, now(), opts.retryMs)
      }
      if (a.kind === 'open') open(a.url)
    },
    status() {
      const s = active
      if (s === null) return null
      return {
        worker: s.url,
        ready: s.changeId !== null,
        changeId: s.changeId,
        rows: s.rows.size,
        differing: s.rows.differing,
      }
    },
    close() {
      closed = true
      if (active !== null) stop(active)
    },
  }
}
