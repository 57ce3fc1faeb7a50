/**
 * The history of a fault campaign and the pure checks run on it once the cluster has healed.
 *
 * Every write is recorded with the harness's event counter at issue and at answer, the worker
 * it went to, and its outcome: `ok` (acknowledged, with `actor_id`/`version` and per-statement
 * `rows_affected`), `failed` (definitely not applied: refused connection or an error answer,
 * the transaction rolled back) or `unknown` (sent, no answer: timeout or reset; it may or may
 * not have been applied, as in Jepsen's `:info`).
 *
 * What can be checked from outside a real cluster, with no access to the nodes' internals:
 * - no two acknowledged writes share an `(actor_id, version)` (a crash lost a version and the
 *   node gave the number out again);
 * - no phantom: every text value and every row in the final state comes from an attempted write;
 * - no lost update: a write acknowledged by worker X beats every write X acknowledged before it
 *   was sent (X applied those first, so its change has a larger col_version or causal length);
 *   a final cell holding the older write's token is a lost update;
 * - no lost write: an acknowledged write's cell must hold its token unless some other attempted
 *   write (not one it provably beats) wrote that cell or deleted that row.
 * The exact reference model of the merge rules (needs every change's col_version) is checked
 * in the simulation tier, where every changeset is visible (`model.ts`).
 */
import type { Op, Step } from './workload.js'

export type Outcome =
  | { status: 'ok'; actor: string; version: number | null; rowsAffected: number[] }
  | { status: 'failed'; error: string }
  | { status: 'unknown'; error: string }

export interface WriteRecord {
  op: Op
  workerName: string
  issuedAt: number
  answeredAt: number
  outcome: Outcome
}

export interface Row {
  k: number
  a: string | null
  b: string | null
  n: number
}

export interface Violation {
  kind: string
  detail: string
  /** Keys involved, to cut the history down to what matters. */
  keys: number[]
}

type Cell = 'a' | 'b'
interface CellWrite {
  k: number
  col: Cell
  token: string
}

/** The cell values a transaction leaves (later steps override earlier ones), and the rows it deletes. */
export function effects(
  steps: readonly Step[],
  rowsAffected?: readonly number[],
): { cells: CellWrite[]; deletes: number[]; creates: number[] } {
  const cells = new Map<string, CellWrite>()
  const deletes = new Set<number>()
  const creates = new Set<number>()
  steps.forEach((s, i) => {
    const affected = rowsAffected === undefined ? 1 : (rowsAffected[i] ?? 0)
    if (affected === 0) return
    switch (s.kind) {
      case 'upsert':
      case 'set':
        cells.set(`${s.k}/${s.col}`, { k: s.k, col: s.col, token: s.token })
        if (s.kind === 'upsert') creates.add(s.k)
        break
      case 'insert':
        cells.set(`${s.k}/a`, { k: s.k, col: 'a', token: s.a })
        cells.set(`${s.k}/b`, { k: s.k, col: 'b', token: s.b })
        creates.add(s.k)
        break
      case 'delete':
        for (const key of [...cells.keys()]) if (key.startsWith(`${s.k}/`)) cells.delete(key)
        deletes.add(s.k)
        break
      case 'bump':
        break
    }
  })
  return { cells: [...cells.values()], deletes: [...deletes], creates: [...creates] }
}

/** Whether `w` could have written cell `(k, col)` or deleted row `k` (any step, applied or maybe). */
function touches(w: WriteRecord, k: number, col: Cell): boolean {
  const ra = w.outcome.status === 'ok' ? w.outcome.rowsAffected : undefined
  return w.op.steps.some((s, i) => {
    if (ra !== undefined && (ra[i] ?? 0) === 0) return false
    if (s.k !== k) return false
    return (
      s.kind === 'delete' ||
      s.kind === 'insert' ||
      ((s.kind === 'upsert' || s.kind === 'set') && s.col === col)
    )
  })
}

/** `later` was acknowledged by the same worker and sent after `earlier` was acknowledged. */
function provablyAfter(later: WriteRecord, earlier: WriteRecord): boolean {
  return (
    later.outcome.status === 'ok' &&
    earlier.outcome.status === 'ok' &&
    later.workerName === earlier.workerName &&
    later.issuedAt > earlier.answeredAt
  )
}

export function checkHistory(writes: readonly WriteRecord[], final: readonly Row[]): Violation[] {
  const out: Violation[] = []
  const attempted = writes.filter((w) => w.outcome.status !== 'failed')
  const acked = writes.filter((w) => w.outcome.status === 'ok')

  // 1. (actor, version) given out once
  const byVersion = new Map<string, WriteRecord>()
  for (const w of acked) {
    if (w.outcome.status !== 'ok' || w.outcome.version === null) continue
    const id = `${w.outcome.actor}/${w.outcome.version}`
    const prev = byVersion.get(id)
    if (prev !== undefined)
      out.push({
        kind: 'version-reused',
        detail: `ops ${prev.op.id} and ${w.op.id} were both acknowledged as ${id}: one of them was lost`,
        keys: [...prev.op.steps, ...w.op.steps].map((s) => s.k),
      })
    else byVersion.set(id, w)
  }

  // token → the write that produced it
  const writerOf = new Map<string, { w: WriteRecord; k: number; col: Cell }>()
  for (const w of attempted)
    for (const c of effects(w.op.steps, w.outcome.status === 'ok' ? w.outcome.rowsAffected : undefined).cells)
      writerOf.set(c.token, { w, k: c.k, col: c.col })
  const finalByKey = new Map(final.map((r) => [r.k, r]))

  // 2. phantoms
  for (const r of final) {
    const created = attempted.some((w) =>
      w.op.steps.some((s) => s.k === r.k && (s.kind === 'upsert' || s.kind === 'insert')),
    )
    if (!created) out.push({ kind: 'phantom-row', detail: `row k=${r.k} was never inserted`, keys: [r.k] })
    for (const col of ['a', 'b'] as const) {
      const v = r[col]
      if (v === null) continue
      const src = writerOf.get(v)
      if (src === undefined || src.k !== r.k || src.col !== col)
        out.push({
          kind: 'phantom-value',
          detail: `k=${r.k}.${col} = ${JSON.stringify(v)}, which no attempted write left in that cell`,
          keys: [r.k],
        })
    }
  }

  // 3. lost updates: the final value comes from a write its own worker later overwrote
  for (const r of final) {
    for (const col of ['a', 'b'] as const) {
      const v = r[col]
      const src = v === null ? undefined : writerOf.get(v)
      if (src === undefined) continue
      const newer = acked.find((w2) => provablyAfter(w2, src.w) && touches(w2, r.k, col))
      if (newer !== undefined)
        out.push({
          kind: 'lost-update',
          detail: `k=${r.k}.${col} = ${v} from op ${src.w.op.id}, but op ${newer.op.id} on the same worker (${newer.workerName}) overwrote it after it was acknowledged`,
          keys: [r.k],
        })
    }
  }

  // 4. lost writes: an acknowledged cell nobody else could have superseded must be there
  for (const w of acked) {
    if (w.outcome.status !== 'ok') continue
    for (const c of effects(w.op.steps, w.outcome.rowsAffected).cells) {
      const have = finalByKey.get(c.k)?.[c.col] ?? null
      if (have === c.token) continue
      const rival = attempted.find((x) => x !== w && touches(x, c.k, c.col) && !provablyAfter(w, x))
      if (rival === undefined)
        out.push({
          kind: 'lost-write',
          detail: `op ${w.op.id} (acknowledged as ${w.outcome.actor}/${w.outcome.version}) wrote k=${c.k}.${c.col} = ${c.token}; the final value is ${JSON.stringify(have)} and no other write could supersede it`,
          keys: [c.k],
        })
    }
  }
  return out
}

/** The writes that touch the given keys, one line each, in issue order (the history to read on failure). */
export function minimalHistory(writes: readonly WriteRecord[], keys: readonly number[], max = 60): string[] {
  const want = new Set(keys)
  const lines = writes
    .filter((w) => w.op.steps.some((s) => want.has(s.k)))
    .sort((x, y) => x.issuedAt - y.issuedAt)
    .map((w) => {
      const o = w.outcome
      const res =
        o.status === 'ok'
          ? `ok ${o.actor.slice(0, 8)}/${o.version} rows=${JSON.stringify(o.rowsAffected)}`
          : `${o.status} (${o.error.slice(0, 60)})`
      return `#${w.issuedAt}..${w.answeredAt} op ${w.op.id} @${w.workerName} ${JSON.stringify(w.op.steps)} → ${res}`
    })
  return lines.length > max
    ? [...lines.slice(0, 10), `… ${lines.length - max} more …`, ...lines.slice(-(max - 10))]
    : lines
}
