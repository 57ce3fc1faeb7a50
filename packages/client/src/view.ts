import type { ChangeType, JsonSqlValue, RowId } from '@patina/api'
import { PatinaClientError } from './errors.js'
import { createIntMap, type IntMap } from './int-map.js'

/** One real difference in a view. `rowid` is the view's own, stable id (see {@link MaterializedView}). */
export interface ViewDelta {
  type: ChangeType
  rowid: RowId
  /** The row after the change (for a delete: the row as it was). */
  cells: JsonSqlValue[]
  /** The row before the change (update and delete), else null. */
  previous: JsonSqlValue[] | null
}

export interface MaterializedViewOptions {
  /**
   * Columns that identify a row across workers (usually the table's primary key). Used to index
   * rows for {@link MaterializedView.findByKey} and to match rows when reconciling a snapshot from
   * another worker. Without them a row's identity is its full content.
   */
  keyColumns?: readonly string[] | undefined
}

/**
 * A subscription's rows held in memory: local rowid → cells.
 *
 * Rowids are the view's own and never reused. While one worker feeds the view they equal that
 * worker's rowids (a new remote rowid is adopted when it is above every id used so far); after a
 * failover, rows matched by identity keep their rowid and new rows get fresh ones. The view keeps
 * the mapping from the current worker's rowids to its own. No I/O, no timers.
 */
export interface MaterializedView {
  readonly columns: readonly string[]
  readonly rows: ReadonlyMap<RowId, JsonSqlValue[]>
  readonly keyColumns: readonly string[] | null
  get(rowid: RowId): JsonSqlValue[] | undefined
  /** Rowids whose key columns equal `key` (values compared in their text form, see {@link keyPart}). */
  findByKey(key: readonly (string | JsonSqlValue)[]): RowId[]
  /** Sets the column list; returns true when it changed. Validates `keyColumns` against it. */
  setColumns(columns: readonly string[]): boolean
  /** Applies one change from the current worker (remote rowid). Returns the real difference, or null when there is none. */
  applyChange(type: ChangeType, remoteRowid: RowId, cells: JsonSqlValue[]): ViewDelta | null
  /** Makes the view equal to a full snapshot from a (possibly different) worker; returns only the real differences. Replaces the rowid mapping. */
  reconcile(columns: readonly string[], snapshot: Iterable<readonly [RowId, JsonSqlValue[]]>): ViewDelta[]
  /**
   * Makes the view equal to another worker's rows given as differences from it (a standby, see
   * `standby-rows.ts`): `links` maps that worker's rowids to view rows with equal cells (1:1;
   * `linked` is its inverse), `own` holds its other rows. The same result as {@link reconcile}
   * with those rows, at the cost of the differing rows only (plus one pass over the view when that
   * worker lacks some of its rows). The view's columns must be that worker's. `links` becomes the
   * rowid mapping (it is taken over). Returns null, changing nothing, when the two maps disagree
   * in size or the links cover more rows than the view has.
   */
  adoptRows(
    links: IntMap,
    linked: { has(local: RowId): boolean; readonly size: number },
    own: Iterable<readonly [RowId, JsonSqlValue[]]>,
  ): ViewDelta[] | null
  /** Forgets the remote→local rowid mapping (a new subscription session is starting). */
  resetMapping(): void
  /** Loads rows with local rowids (warm start from a saved state); the mapping starts empty. */
  load(columns: readonly string[], rows: Iterable<readonly [RowId, JsonSqlValue[]]>): void
  /** The identity of a row with these cells (its key columns' text, else its whole content), as the view matches rows. */
  identityOf(cells: readonly JsonSqlValue[]): string
  /** Local rowids of the rows with the same identity as `cells` (their cells may differ). */
  candidatesFor(cells: readonly JsonSqlValue[]): readonly RowId[]
}

/** The text form a key value is compared in: null → '', blob → hex, else String(v). Pure. */
export function keyPart(v: string | JsonSqlValue): string {
  if (v === null) return ''
  if (Array.isArray(v)) return v.map((b) => (b & 0xff).toString(16).padStart(2, '0')).join('')
  return String(v)
}

export function cellsEqual(a: readonly JsonSqlValue[], b: readonly JsonSqlValue[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    if (x === y) continue
    if (Array.isArray(x) && Array.isArray(y)) {
      if (x.length !== y.length || x.some((v, j) => v !== y[j])) return false
      continue
    }
    return false
  }
  return true
}

/** A set of local rowids below `limit`: a byte per id when that is small next to a `Set` of `size` ids. */
interface TakenSet {
  has(id: RowId): boolean
  add(id: RowId): void
  readonly size: number
}

function takenSet(limit: number, size: number): TakenSet {
  if (limit > 8 * size + 65_536) return new Set<RowId>()
  const bits = new Uint8Array(limit)
  let n = 0
  return {
    has: (id) => id < limit && bits[id] === 1,
    add(id) {
      if (id >= limit) throw new Error(`rowid ${id} is not below ${limit}`)
      if (bits[id] !== 1) n++
      bits[id] = 1
    },
    get size() {
      return n
    },
  }
}

export function createMaterializedView(opts: MaterializedViewOptions = {}): MaterializedView {
  const keyColumns = opts.keyColumns && opts.keyColumns.length > 0 ? [...opts.keyColumns] : null
  let columns: string[] = []
  let keyIdx: number[] | null = null
  const rows = new Map<RowId, JsonSqlValue[]>()
  /** identity string → local rowids (a multiset: full-content identities may repeat) */
  /** identity → its local rowid, or rowids when several rows share it (memory: one number per row in the usual case) */
  const byIdentity = new Map<string, RowId | RowId[]>()
  /** the current worker's rowid → local rowid (typed-array backed: about 4 bytes a row while rowids are dense) */
  let remoteToLocal = createIntMap()
  let nextLocal = 1

  const indexesFor = (cols: readonly string[]): number[] | null => {
    if (keyColumns === null) return null
    return keyColumns.map((k) => {
      const i = cols.indexOf(k)
      if (i === -1)
        throw new PatinaClientError(
          'PATINA_ERR_PARAM_INVALID',
          `keyColumns value "${k}" is not a column of the query; allowed: ${cols.map((c) => `"${c}"`).join(', ')}`,
        )
      return i
    })
  }
  /** The text of a key: one column's value as it is (no new string for a text key), several as a JSON list. */
  const keyText = (parts: readonly string[]): string =>
    parts.length === 1 ? (parts[0] as string) : JSON.stringify(parts)
  const identityWith = (idx: number[] | null, cells: readonly JsonSqlValue[]): string =>
    idx === null
      ? JSON.stringify(cells)
      : idx.length === 1
        ? keyPart(cells[idx[0] as number] ?? null)
        : keyText(idx.map((i) => keyPart(cells[i] ?? null)))
  const idsOf = (k: string): readonly RowId[] => {
    const v = byIdentity.get(k)
    return v === undefined ? [] : typeof v === 'number' ? [v] : v
  }
  const identity = (cells: readonly JsonSqlValue[]): string => identityWith(keyIdx, cells)

  const indexAdd = (id: RowId, cells: readonly JsonSqlValue[]): void => {
    const k = identity(cells)
    const l = byIdentity.get(k)
    if (l === undefined) byIdentity.set(k, id)
    else if (typeof l === 'number') byIdentity.set(k, [l, id])
    else l.push(id)
  }
  const indexRemove = (id: RowId, cells: readonly JsonSqlValue[]): void => {
    const k = identity(cells)
    const l = byIdentity.get(k)
    if (l === undefined) return
    if (typeof l === 'number') {
      if (l === id) byIdentity.delete(k)
      return
    }
    const i = l.indexOf(id)
    if (i !== -1) l.splice(i, 1)
    if (l.length === 1) byIdentity.set(k, l[0] as RowId)
    else if (l.length === 0) byIdentity.delete(k)
  }
  const put = (id: RowId, cells: JsonSqlValue[]): void => {
    const old = rows.get(id)
    if (old) indexRemove(id, old)
    rows.set(id, cells)
    indexAdd(id, cells)
    if (id >= nextLocal) nextLocal = id + 1
  }
  const remove = (id: RowId): JsonSqlValue[] | undefined => {
    const old = rows.get(id)
    if (!old) return undefined
    rows.delete(id)
    indexRemove(id, old)
    return old
  }
  const allocate = (remote: RowId | null): RowId => {
    if (remote !== null && remote >= nextLocal) {
      nextLocal = remote + 1
      return remote
    }
    return nextLocal++
  }
  const rebuildIndex = (): void => {
    byIdentity.clear()
    for (const [id, cells] of rows) indexAdd(id, cells)
  }

  const view: MaterializedView = {
    get columns() {
      return columns
    },
    rows,
    keyColumns,
    get: (rowid) => rows.get(rowid),
    findByKey(key) {
      if (keyIdx === null)
        throw new PatinaClientError(
          'PATINA_ERR_PARAM_INVALID',
          'findByKey needs keyColumns (none were given)',
        )
      if (key.length !== keyIdx.length)
        throw new PatinaClientError(
          'PATINA_ERR_PARAM_INVALID',
          `key has ${key.length} values; keyColumns (${(keyColumns ?? []).join(', ')}) needs ${keyIdx.length}`,
        )
      return [...idsOf(keyText(key.map((v) => keyPart(v))))]
    },
    setColumns(cols) {
      if (cols.length === columns.length && cols.every((c, i) => c === columns[i])) return false
      const idx = indexesFor(cols)
      columns = [...cols]
      keyIdx = idx
      rebuildIndex()
      return true
    },
    applyChange(type, remoteRowid, cells) {
      const local = remoteToLocal.get(remoteRowid)
      if (type === 'delete') {
        if (local === undefined) return null
        remoteToLocal.delete(remoteRowid)
        const old = remove(local)
        return old ? { type: 'delete', rowid: local, cells: old, previous: old } : null
      }
      if (local !== undefined && rows.has(local)) {
        const old = rows.get(local) as JsonSqlValue[]
        if (cellsEqual(old, cells)) return null
        put(local, cells)
        return { type: 'update', rowid: local, cells, previous: old }
      }
      // insert (or an update for a row we never saw: the view follows the server)
      const id = allocate(remoteRowid)
      remoteToLocal.set(remoteRowid, id)
      put(id, cells)
      return { type: 'insert', rowid: id, cells, previous: null }
    },
    reconcile(cols, snapshot) {
      const deltas: ViewDelta[] = []
      const newIdx = indexesFor(cols)
      const colsChanged = !(cols.length === columns.length && cols.every((c, i) => c === columns[i]))
      // match snapshot rows to local rows by identity, computed with each side's own columns;
      // no copy of the index: a local row is taken once (a multiset when rows repeat)
      const matched = takenSet(nextLocal, rows.size)
      const mapping = createIntMap()
      const pending: Array<[RowId, JsonSqlValue[]]> = []
      for (const [remote, cells] of snapshot) {
        const cands = byIdentity.get(identityWith(newIdx, cells))
        let local: RowId | undefined
        if (typeof cands === 'number') {
          if (!matched.has(cands)) local = cands
        } else if (cands !== undefined)
          for (const id of cands)
            if (!matched.has(id)) {
              local = id
              break
            }
        if (local === undefined) {
          pending.push([remote, cells])
          continue
        }
        matched.add(local)
        mapping.set(remote, local)
        const old = rows.get(local) as JsonSqlValue[]
        if (colsChanged || !cellsEqual(old, cells)) {
          deltas.push({ type: 'update', rowid: local, cells, previous: old })
        }
      }
      const deletes: ViewDelta[] = []
      if (matched.size < rows.size)
        for (const [id, old] of rows)
          if (!matched.has(id)) deletes.push({ type: 'delete', rowid: id, cells: old, previous: old })
      // apply: deletes first (frees key identities), then updates, then inserts; the index is
      // updated row by row, and rebuilt only when the columns (so the identities) changed
      for (const d of deletes) remove(d.rowid)
      if (colsChanged) {
        columns = [...cols]
        keyIdx = newIdx
        for (const d of deltas) rows.set(d.rowid, d.cells)
        rebuildIndex()
      } else for (const d of deltas) put(d.rowid, d.cells)
      const inserts: ViewDelta[] = []
      for (const [remote, cells] of pending) {
        const id = allocate(remote)
        mapping.set(remote, id)
        put(id, cells)
        inserts.push({ type: 'insert', rowid: id, cells, previous: null })
      }
      remoteToLocal = mapping
      deletes.sort((a, b) => a.rowid - b.rowid)
      return [...deletes, ...deltas, ...inserts]
    },
    adoptRows(links, linked, own) {
      if (links.size !== linked.size || links.size > rows.size) return null
      // view rows taken: the linked ones, and those matched by an own row
      const matched = new Set<RowId>()
      const taken = {
        has: (id: RowId) => linked.has(id) || matched.has(id),
        add: (id: RowId) => matched.add(id),
      }
      const deltas: ViewDelta[] = []
      const pending: Array<[RowId, JsonSqlValue[]]> = []
      for (const [remote, cells] of own) {
        let local: RowId | undefined
        for (const id of idsOf(identity(cells)))
          if (!taken.has(id)) {
            local = id
            break
          }
        if (local === undefined) {
          pending.push([remote, cells])
          continue
        }
        taken.add(local)
        links.set(remote, local)
        const old = rows.get(local) as JsonSqlValue[]
        if (!cellsEqual(old, cells)) deltas.push({ type: 'update', rowid: local, cells, previous: old })
      }
      const deletes: ViewDelta[] = []
      if (linked.size + matched.size < rows.size)
        for (const [id, old] of rows)
          if (!taken.has(id)) deletes.push({ type: 'delete', rowid: id, cells: old, previous: old })
      for (const d of deletes) remove(d.rowid)
      for (const d of deltas) put(d.rowid, d.cells)
      const inserts: ViewDelta[] = []
      for (const [remote, cells] of pending) {
        const id = allocate(remote)
        links.set(remote, id)
        put(id, cells)
        inserts.push({ type: 'insert', rowid: id, cells, previous: null })
      }
      remoteToLocal = links
      deletes.sort((a, b) => a.rowid - b.rowid)
      return [...deletes, ...deltas, ...inserts]
    },
    resetMapping() {
      remoteToLocal = createIntMap()
    },
    identityOf: (cells) => identity(cells),
    candidatesFor: (cells) => idsOf(identity(cells)),
    load(cols, loaded) {
      keyIdx = indexesFor(cols)
      columns = [...cols]
      rows.clear()
      byIdentity.clear()
      remoteToLocal = createIntMap()
      for (const [id, cells] of loaded) put(id, cells)
    },
  }
  return view
}
