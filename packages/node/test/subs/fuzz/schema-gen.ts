import type { Rng } from './random.js'

/** A generated table: its key, its value columns by kind, and the tables it refers to. */
export interface GenTable {
  name: string
  /** Primary-key columns; `id` (INTEGER) for most tables, `(k TEXT, n INTEGER)` for some. */
  pk: string[]
  /** Integer value columns (small domain, NULLs). */
  ints: string[]
  /** Text value columns (a few letters). */
  texts: string[]
  /** REAL column, or null. */
  real: string | null
  /** JSON text column read by `json_extract` (sometimes malformed), or null. */
  json: string | null
  /** Reference columns: column name -> referenced table (its `id`). */
  refs: Map<string, string>
  /** Columns added by a schema change during the run. */
  added: string[]
}

export interface GenSchema {
  tables: GenTable[]
  sql(): string
}

/** 2–4 tables related by `<table>_id` columns; key domains are small so that rows join and collide. */
export function genSchema(rng: Rng): GenSchema {
  const n = rng.int(2, 4)
  const tables: GenTable[] = []
  for (let i = 0; i < n; i++) {
    const composite = i > 0 && rng.chance(0.25)
    tables.push({
      name: `t${i}`,
      pk: composite ? ['k', 'n'] : ['id'],
      ints: rng.sample(['v', 'w', 'q'], rng.int(1, 2)),
      texts: rng.sample(['s', 'tag'], rng.int(1, 2)),
      real: rng.chance(0.5) ? 'x' : null,
      json: rng.chance(0.4) ? 'j' : null,
      refs: new Map(),
      added: [],
    })
  }
  for (const t of tables) {
    for (const other of tables) {
      if (other === t || other.pk[0] !== 'id') continue
      if (rng.chance(0.6)) t.refs.set(`${other.name}_id`, other.name)
    }
  }
  return {
    tables,
    sql: () =>
      tables
        .map((t) => {
          const cols: string[] = []
          if (t.pk[0] === 'id') cols.push('id INTEGER PRIMARY KEY')
          else cols.push('k TEXT NOT NULL', 'n INTEGER NOT NULL')
          for (const c of t.ints) cols.push(c === 'q' ? `${c} INTEGER NOT NULL DEFAULT 0` : `${c} INTEGER`)
          for (const c of t.texts) cols.push(`${c} TEXT`)
          if (t.real) cols.push(`${t.real} REAL`)
          if (t.json) cols.push(`${t.json} TEXT`)
          for (const r of t.refs.keys()) cols.push(`${r} INTEGER`)
          for (const a of t.added) cols.push(`${a} TEXT DEFAULT 'd'`)
          const key = t.pk[0] === 'id' ? '' : ', PRIMARY KEY (k, n)'
          const index =
            t.refs.size > 0 ? `\nCREATE INDEX ${t.name}_ref ON ${t.name} (${[...t.refs.keys()][0]});` : ''
          return `CREATE TABLE ${t.name} (${cols.join(', ')}${key})${t.pk[0] === 'id' ? '' : ' WITHOUT ROWID'};${index}`
        })
        .join('\n'),
  }
}

/** Every value column of a table (keys excluded). */
export function valueColumns(t: GenTable): string[] {
  return [
    ...t.ints,
    ...t.texts,
    ...(t.real ? [t.real] : []),
    ...(t.json ? [t.json] : []),
    ...t.refs.keys(),
    ...t.added,
  ]
}
