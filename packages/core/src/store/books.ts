import type { Database as Db } from 'better-sqlite3'
import type { Range } from '../types.js'
import { BookedVersions } from '../versions/booked-versions.js'
import { RangeSet } from '../versions/range-set.js'
import type { Statements } from './context.js'

type BookStatements = Pick<Statements, 'putHead' | 'delGaps' | 'insGap' | 'putPartial' | 'delPartial'>

/**
 * The per-actor books (`BookedVersions`, by site ordinal) kept in memory for speed and in
 * `__patina_heads`, `__patina_gaps` and `__patina_partials` for restarts. Every change to
 * them is persisted in the same SQLite transaction as the data it describes (principle 2 of
 * docs/architecture.md); `edit()` makes that safe when the transaction rolls back.
 */
export class Books {
  private readonly bySite = new Map<number, BookedVersions>()

  constructor(private readonly stmts: BookStatements) {}

  /** Reads the books of every actor; this node's own head is at least its db_version. */
  load(db: Db, selfOrd: number, dbVersion: number): void {
    for (const r of db
      .prepare<[], { site: number; head: number }>(`SELECT site, head FROM __patina_heads`)
      .all()) {
      this.get(r.site).head = r.head
    }
    const gaps = db.prepare<[], { site: number; start: number; e: number }>(
      `SELECT site, start, "end" AS e FROM __patina_gaps`,
    )
    for (const r of gaps.all()) this.get(r.site).gaps.add(r.start, r.e)
    const partials = db.prepare<
      [],
      { site: number; db_version: number; last_seq: number; ts: number; seqs: string }
    >(`SELECT * FROM __patina_partials`)
    for (const r of partials.all()) {
      this.get(r.site).partials.set(r.db_version, {
        seqs: RangeSet.from(JSON.parse(r.seqs) as Range[]),
        lastSeq: r.last_seq,
        ts: r.ts,
      })
    }
    const self = this.get(selfOrd)
    self.head = Math.max(self.head, dbVersion)
  }

  /** The books of one actor, created empty (in memory only) on first use. */
  get(site: number): BookedVersions {
    let b = this.bySite.get(site)
    if (b === undefined) this.bySite.set(site, (b = new BookedVersions()))
    return b
  }

  /** The books of one actor if any exist, without creating them. */
  find(site: number): BookedVersions | undefined {
    return this.bySite.get(site)
  }

  /** Every actor's books, by site ordinal. */
  entries(): IterableIterator<[number, BookedVersions]> {
    return this.bySite.entries()
  }

  /** Number of actors with books. */
  get size(): number {
    return this.bySite.size
  }

  /** Persists a new head of one actor (the local commit path: no gaps or partials change). */
  persistHead(site: number, head: number): void {
    this.stmts.putHead.run(site, head)
  }

  /** Persists one actor's head and gaps, and the partial versions listed in `partialsTouched`. */
  persist(site: number, partialsTouched: Iterable<number>): void {
    const b = this.get(site)
    this.stmts.putHead.run(site, b.head)
    this.stmts.delGaps.run(site)
    for (const [a, e] of b.gaps.toArray()) this.stmts.insGap.run(site, a, e)
    for (const v of partialsTouched) {
      const p = b.partials.get(v)
      if (p === undefined) this.stmts.delPartial.run(site, v)
      else this.stmts.putPartial.run(site, v, p.lastSeq, p.ts, JSON.stringify(p.seqs.toArray()))
    }
  }

  /** Starts an edit of the books for one SQLite transaction (see `BooksEdit`). */
  edit(): BooksEdit {
    return new BooksEdit(this, this.bySite)
  }
}

/**
 * The books changed by one SQLite transaction, as one value: each actor's books are copied
 * before their first change (`open`), `persist` writes what changed inside the transaction,
 * and `rollback` puts the copies back when the transaction did not commit, so memory never
 * claims versions the database does not hold.
 */
export class BooksEdit {
  private readonly saved = new Map<number, BookedVersions>()
  private readonly partials = new Map<number, Set<number>>()

  constructor(
    private readonly books: Books,
    private readonly bySite: Map<number, BookedVersions>,
  ) {}

  /** The books of `site`, to be changed: copied first so `rollback` can restore them. */
  open(site: number): BookedVersions {
    const b = this.books.get(site)
    if (!this.saved.has(site)) this.saved.set(site, b.clone())
    return b
  }

  /** Notes that partial version `version` of `site` changed (written or dropped by `persist`). */
  touchPartial(site: number, version: number): void {
    let s = this.partials.get(site)
    if (s === undefined) this.partials.set(site, (s = new Set()))
    s.add(version)
  }

  /** Writes the books of every opened actor; runs inside the transaction. */
  persist(): void {
    for (const site of this.saved.keys()) this.books.persist(site, this.partials.get(site) ?? [])
  }

  /**
   * Puts back `copy` as the books of `site` (taken with `clone()` before one version was tried
   * under a savepoint that rolled back). The edit must have opened `site` before.
   */
  restore(site: number, copy: BookedVersions): void {
    this.bySite.set(site, copy)
  }

  /** Restores the books of every opened actor to their state before the edit. */
  rollback(): void {
    for (const [site, copy] of this.saved) this.bySite.set(site, copy)
  }
}
