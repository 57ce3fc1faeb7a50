/** One stored result row of a subscription. */
export interface StoredEntry {
  rowid: number
  /** JSON text of the row's cells, as the API sends them. */
  cells: string
  /** Incremental plans: encoded primary key of each FROM table in this row (plan order). */
  tableKeys: string[]
}

/**
 * A subscription's current rows, by identity key, iterated in row-id order (a new row gets
 * the next row id and goes last; an updated row keeps its id and place), and for incremental
 * plans, per FROM table, the rows each of its keys takes part in.
 */
export interface SubRows {
  readonly size: number
  get(key: string): StoredEntry | undefined
  has(key: string): boolean
  keys(): IterableIterator<string>
  /** Rows in row-id order. */
  values(): IterableIterator<StoredEntry>
  /** Keys of the rows in which table `tableIndex` has key `tableKey`. */
  withTableKey(tableIndex: number, tableKey: string): Iterable<string>
  /** Adds a row (its row id must be above every stored one) or replaces one in place. */
  put(key: string, entry: StoredEntry): void
  delete(key: string): void
  clear(): void
}

/**
 * @param nullKeys per FROM table, the key of an unmatched (NULL-extended) left-joined row,
 *   which is never indexed.
 */
export function createSubRows(nullKeys: readonly string[]): SubRows {
  const rows = new Map<string, StoredEntry>()
  const index: Map<string, Set<string>>[] = nullKeys.map(() => new Map())
  let lastRowid = 0

  const unindex = (key: string, e: StoredEntry): void => {
    e.tableKeys.forEach((tk, ti) => {
      const idx = index[ti]
      const set = idx?.get(tk)
      if (!idx || !set) return
      set.delete(key)
      if (set.size === 0) idx.delete(tk)
    })
  }
  const reindex = (key: string, e: StoredEntry): void => {
    e.tableKeys.forEach((tk, ti) => {
      const idx = index[ti]
      if (!idx || tk === nullKeys[ti]) return
      let set = idx.get(tk)
      if (!set) idx.set(tk, (set = new Set()))
      set.add(key)
    })
  }

  return {
    get size() {
      return rows.size
    },
    get: (key) => rows.get(key),
    has: (key) => rows.has(key),
    keys: () => rows.keys(),
    values: () => rows.values(),
    withTableKey: (ti, tk) => index[ti]?.get(tk) ?? [],
    put(key, entry) {
      const prev = rows.get(key)
      if (prev) unindex(key, prev)
      else if (entry.rowid <= lastRowid) {
        throw new RangeError(`row id ${entry.rowid} of a new row is not above the last one (${lastRowid})`)
      }
      rows.set(key, entry)
      lastRowid = Math.max(lastRowid, entry.rowid)
      reindex(key, entry)
    },
    delete(key) {
      const prev = rows.get(key)
      if (!prev) return
      rows.delete(key)
      unindex(key, prev)
    },
    clear() {
      rows.clear()
      for (const idx of index) idx.clear()
    },
  }
}
