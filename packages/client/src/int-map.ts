/**
 * A map from non-negative integers to non-negative integers, stored as one `Int32Array` while
 * the keys stay dense (about 4 bytes a key instead of the 20-30 of a `Map` entry); it moves to
 * a `Map` for good when a key is far above the number of entries, or a key or value does not fit.
 * Rowid maps of a 100,000-row view are the use. No I/O.
 */
export interface IntMap {
  get(key: number): number | undefined
  has(key: number): boolean
  set(key: number, value: number): void
  delete(key: number): void
  readonly size: number
  entries(): IterableIterator<[number, number]>
}

/** Largest value stored in the dense form (values are kept as value + 1; 0 means absent). */
const MAX_DENSE = 0x7ffffffe

export function createIntMap(): IntMap {
  let dense: Int32Array | null = new Int32Array(1024)
  let sparse: Map<number, number> | null = null
  let n = 0

  const fitsDense = (key: number, value: number): boolean =>
    Number.isInteger(key) &&
    Number.isInteger(value) &&
    key >= 0 &&
    value >= 0 &&
    value < MAX_DENSE &&
    key < MAX_DENSE &&
    key <= 4 * (n + 1) + (1 << 20)

  const toSparse = (): Map<number, number> => {
    const m = new Map<number, number>()
    if (dense !== null)
      for (let k = 0; k < dense.length; k++) if (dense[k] !== 0) m.set(k, (dense[k] as number) - 1)
    dense = null
    sparse = m
    return m
  }

  return {
    get(key) {
      if (sparse !== null) return sparse.get(key)
      const d = dense as Int32Array
      if (!Number.isInteger(key) || key < 0 || key >= d.length) return undefined
      const v = d[key] as number
      return v === 0 ? undefined : v - 1
    },
    has(key) {
      return this.get(key) !== undefined
    },
    set(key, value) {
      if (sparse === null && !fitsDense(key, value)) toSparse()
      if (sparse !== null) {
        sparse.set(key, value)
        n = sparse.size
        return
      }
      let d = dense as Int32Array
      if (key >= d.length) {
        let len = d.length
        while (len <= key) len *= 2
        const grown = new Int32Array(len)
        grown.set(d)
        dense = d = grown
      }
      if (d[key] === 0) n++
      d[key] = value + 1
    },
    delete(key) {
      if (sparse !== null) {
        sparse.delete(key)
        n = sparse.size
        return
      }
      const d = dense as Int32Array
      if (!Number.isInteger(key) || key < 0 || key >= d.length || d[key] === 0) return
      d[key] = 0
      n--
    },
    get size() {
      return n
    },
    *entries() {
      if (sparse !== null) {
        yield* sparse.entries()
        return
      }
      const d = dense as Int32Array
      for (let k = 0; k < d.length; k++) if (d[k] !== 0) yield [k, (d[k] as number) - 1]
    },
  }
}
