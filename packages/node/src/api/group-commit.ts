/**
 * Group commit of `POST /v1/transactions`: requests that arrive together run as one SQLite
 * transaction (`StateEngine.transactions`: one `BEGIN IMMEDIATE` … `COMMIT`, a savepoint, a
 * version and changesets of its own per request), and their changesets leave as one commit
 * event, so one broadcast message.
 *
 * How a group forms, without a timer: a request is queued and, if no group is due, one is
 * scheduled with `setImmediate`, which runs after the event loop has handled every request
 * that was ready at the same time. A lone write therefore runs at once (no added latency);
 * requests that arrive while a group runs (it holds the main thread) are read together when
 * it ends and form the next group. At most `maxGroup` run in one group; the rest wait for the
 * next one, after the event loop has had a turn (membership probes, gossip).
 *
 * The main thread: the group gets `api.limits.main_thread_max_ms` as its budget (`budgetMs`);
 * no request but the first starts once it is spent, and the others' deadlines are cut to what
 * is left. A request stopped by that cut (not by its own deadline) comes back `deferred` and
 * leads the next group, where it has its whole deadline (the requests SQLite rolled back with
 * it follow). So a group holds the main thread no longer than one request could, and every
 * request is run, in the end, under its own deadline.
 */
import type { GroupedTransaction, GroupOutcome, StateEngine } from '@patina/core'

/** An answered outcome: what the route turns into its response. */
export type Answer = Exclude<GroupOutcome, { status: 'deferred' }>

export interface GroupCommitOptions {
  /** Most requests in one group (>= 2; 1 means group commit is off and this is not used). */
  maxGroup: number
  /** The group's budget on the main thread, ms (`api.limits.main_thread_max_ms`). */
  budgetMs: number
  /** Told the size of each group run (metrics). */
  onGroup?(size: number): void
}

export interface GroupCommit {
  /** Runs `tx` in the next group; resolves with its outcome once the group has committed. */
  submit(tx: GroupedTransaction): Promise<Answer>
  /** Requests waiting for a group. */
  readonly queued: number
}

/**
 * What to do with a group's outcomes (pure): the positions to answer, and those to run again
 * (deferred), ahead of anything queued since: first the one stopped by the group's budget (it
 * leads the next group, so it runs under its whole deadline and cannot be cut again), then the
 * others in their order.
 */
export function settle(outcomes: readonly GroupOutcome[]): { answer: number[]; again: number[] } {
  const answer: number[] = []
  const stopped: number[] = []
  const again: number[] = []
  outcomes.forEach((o, i) => {
    if (o.status !== 'deferred') answer.push(i)
    else if (o.stoppedByBudget === true) stopped.push(i)
    else again.push(i)
  })
  return { answer, again: [...stopped, ...again] }
}

/** How many of `queued` requests the next group takes (pure). */
export function groupSize(queued: number, maxGroup: number): number {
  return Math.max(0, Math.min(queued, maxGroup))
}

interface Waiting {
  tx: GroupedTransaction
  resolve(a: Answer): void
  reject(err: unknown): void
}

export function createGroupCommit(engine: StateEngine, opts: GroupCommitOptions): GroupCommit {
  let queue: Waiting[] = []
  let scheduled = false

  const schedule = (): void => {
    if (scheduled) return
    scheduled = true
    setImmediate(runGroup)
  }

  function runGroup(): void {
    scheduled = false
    const group = queue.slice(0, groupSize(queue.length, opts.maxGroup))
    queue = queue.slice(group.length)
    if (group.length === 0) return
    opts.onGroup?.(group.length)
    let outcomes: GroupOutcome[]
    try {
      outcomes = engine.transactions(
        group.map((w) => w.tx),
        { budgetMs: opts.budgetMs },
      )
    } catch (err) {
      // The engine is closed: nothing ran.
      for (const w of group) w.reject(err)
      if (queue.length > 0) schedule()
      return
    }
    const { answer, again } = settle(outcomes)
    for (const i of answer) (group[i] as Waiting).resolve(outcomes[i] as Answer)
    queue = [...again.map((i) => group[i] as Waiting), ...queue]
    if (queue.length > 0) schedule()
  }

  return {
    submit(tx) {
      return new Promise<Answer>((resolve, reject) => {
        queue.push({ tx, resolve, reject })
        schedule()
      })
    },
    get queued() {
      return queue.length
    },
  }
}
