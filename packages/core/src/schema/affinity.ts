/**
 * Column type affinity, by SQLite's rules (https://sqlite.org/datatype3.html §3.1), so the store
 * can tell which columns keep values as written. Pure.
 */

export type Affinity = 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC'

/**
 * The affinity of a column declared with `type`. In a STRICT table the type is one of INT,
 * INTEGER, REAL, TEXT, BLOB or ANY, and ANY keeps every value as given (no affinity, reported
 * here as BLOB); outside STRICT tables `ANY` is just a name and gets NUMERIC by rule 5.
 */
export function columnAffinity(type: string, strict = false): Affinity {
  const t = type.toUpperCase()
  if (strict && t.trim() === 'ANY') return 'BLOB'
  if (t.includes('INT')) return 'INTEGER'
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT'
  if (t.includes('BLOB') || t.trim() === '') return 'BLOB'
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL'
  return 'NUMERIC'
}
