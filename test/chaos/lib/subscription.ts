/**
 * Follows one subscription on one worker over raw HTTP NDJSON for a whole campaign, the way a
 * careful client would: snapshot, then changes; when the stream breaks (worker killed, paused,
 * partitioned) it re-attaches with `GET /v1/subscriptions/:id?from=<last change_id>`. Every
 * event is replayed into a rowid → cells map; change ids must be contiguous (a gap or a repeat
 * is recorded as a violation). At the end the replayed map must equal the query's result.
 */

export class SubscriptionFollower {
  id: string | undefined
  last = 0
  readonly rows = new Map<number, unknown[]>()
  readonly problems: string[] = []
  readonly stats = { connects: 0, resumes: 0, changes: 0, errors: 0, lost: 0 }
  private readonly abort = new AbortController()
  private done: Promise<void> = Promise.resolve()

  constructor(
    readonly workerName: string,
    private readonly apiUrl: () => string,
    private readonly sql: string,
  ) {}

  start(): void {
    this.done = this.loop()
  }

  async stop(): Promise<void> {
    this.abort.abort()
    await this.done
  }

  /** Replayed rows, sorted like `ORDER BY` the first column. */
  snapshot(): unknown[][] {
    return [...this.rows.values()].sort((x, y) => Number(x[0]) - Number(y[0]))
  }

  private async loop(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        await this.connectOnce()
      } catch {
        // stream broke: the worker is down, paused or cut off; try again
      }
      if (this.abort.signal.aborted) return
      await new Promise((r) => setTimeout(r, 300))
    }
  }

  private async connectOnce(): Promise<void> {
    const resume = this.id !== undefined
    const url = resume
      ? `${this.apiUrl()}/v1/subscriptions/${this.id}?from=${this.last}`
      : `${this.apiUrl()}/v1/subscriptions`
    const res = await fetch(url, {
      method: resume ? 'GET' : 'POST',
      ...(resume ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(this.sql) }),
      signal: this.abort.signal,
    })
    if (res.status === 404 && resume) {
      // documented: subscriptions survive a restart; losing one is a finding
      this.stats.lost++
      this.problems.push(`subscription ${this.id} on ${this.workerName} was gone (404) after a fault`)
      this.id = undefined
      this.last = 0
      await res.body?.cancel()
      return
    }
    if (res.status !== 200) {
      await res.body?.cancel()
      throw new Error(`subscribe ${res.status}`)
    }
    this.stats.connects++
    if (resume) this.stats.resumes++
    if (!resume) this.id = res.headers.get('corro-query-id') ?? undefined
    const snapshot = !resume || this.last === 0
    if (snapshot) this.rows.clear()
    const decoder = new TextDecoder()
    let buf = ''
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true })
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (line.length > 0) this.onEvent(JSON.parse(line) as Record<string, unknown>, snapshot)
      }
    }
  }

  private onEvent(ev: Record<string, unknown>, snapshot: boolean): void {
    if ('row' in ev) {
      const [rowid, cells] = ev['row'] as [number, unknown[]]
      if (snapshot) this.rows.set(rowid, cells)
    } else if ('eoq' in ev) {
      const cid = (ev['eoq'] as { change_id?: number }).change_id
      if (snapshot && typeof cid === 'number') this.last = cid
    } else if ('change' in ev) {
      const [type, rowid, cells, cid] = ev['change'] as [string, number, unknown[], number]
      if (cid !== this.last + 1)
        this.problems.push(
          `${this.workerName} subscription ${this.id}: change_id ${cid} after ${this.last} (${cid <= this.last ? 'repeat' : 'gap'})`,
        )
      this.last = Math.max(this.last, cid)
      this.stats.changes++
      if (type === 'delete') this.rows.delete(rowid)
      else this.rows.set(rowid, cells)
    } else if ('error' in ev) {
      // final for this stream (e.g. a slow-consumer cut); resume with from
      this.stats.errors++
    }
  }
}
