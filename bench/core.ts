/**
 * `pnpm bench core`: the state engine side by side with plain better-sqlite3.
 *
 * - local write rate through the engine vs plain inserts of the same rows (ratio)
 * - remote apply rate (changes/s, many changesets per SQLite transaction)
 * - bytes per change on the wire (msgpack changesets)
 *
 * Each figure is the median of RUNS runs, all measured in this one process.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { createStateEngine, encodeChangeset, type Changeset, type Statement } from '@patina/core'
import { median, progress, report, type Row } from './lib/report.js'

const N = Number(process.env['BENCH_ROWS'] ?? 100_000)
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3)
const SCHEMA = `CREATE TABLE routes (host TEXT NOT NULL PRIMARY KEY, app TEXT, backend TEXT, weight INTEGER NOT NULL DEFAULT 1, updated_at INTEGER)`
const INSERT = 'INSERT INTO routes (host, app, backend, weight, updated_at) VALUES (?, ?, ?, ?, ?)'
const rowParams = (i: number): [string, string, string, number, number] => [
  `host-${i}.example.com`,
  `app-${i % 500}`,
  `10.0.${(i >> 8) & 255}.${i & 255}:8080`,
  1 + (i % 10),
  1_700_000_000 + i,
]

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'patina-bench-core-'))
  const rows: Row[] = []
  try {
    const plain: number[] = []
    const engineBig: number[] = []
    const engineSmall: number[] = []
    const apply: number[] = []
    let bytesPerChange = 0
    for (let r = 0; r < RUNS; r++) {
      progress(`run ${r + 1}/${RUNS}: plain better-sqlite3, ${N} rows`)
      {
        const db = new Database(join(dir, `plain-${r}.sqlite`))
        db.pragma('journal_mode = WAL')
        db.pragma('synchronous = NORMAL')
        db.exec(SCHEMA)
        const st = db.prepare(INSERT)
        const t0 = performance.now()
        db.transaction(() => {
          for (let i = 0; i < N; i++) st.run(...rowParams(i))
        })()
        plain.push(N / ((performance.now() - t0) / 1000))
        db.close()
      }
      progress(`run ${r + 1}/${RUNS}: engine, one transaction of ${N} rows`)
      const a = createStateEngine({ path: join(dir, `engine-${r}.sqlite`), schema: SCHEMA })
      const stmts: Statement[] = Array.from({ length: N }, (_, i) => ({ sql: INSERT, params: rowParams(i) }))
      let t0 = performance.now()
      const big = a.transaction(stmts)
      engineBig.push(N / ((performance.now() - t0) / 1000))
      progress(`run ${r + 1}/${RUNS}: engine, ${N / 100} transactions of 100 rows`)
      const s = createStateEngine({ path: join(dir, `engine-small-${r}.sqlite`), schema: SCHEMA })
      const small: Changeset[] = []
      t0 = performance.now()
      for (let k = 0; k < N; k += 100) small.push(...s.transaction(stmts.slice(k, k + 100)).changesets)
      engineSmall.push(N / ((performance.now() - t0) / 1000))
      const changes = small.reduce((n, cs) => n + (cs.kind === 'full' ? cs.changes.length : 0), 0)
      const wire = small.reduce((n, cs) => n + encodeChangeset(cs).length, 0)
      bytesPerChange = wire / changes
      progress(`run ${r + 1}/${RUNS}: remote apply of ${changes} changes`)
      const b = createStateEngine({ path: join(dir, `apply-${r}.sqlite`), schema: SCHEMA })
      const all = [...small, ...big.changesets]
      const total = all.reduce((n, cs) => n + (cs.kind === 'full' ? cs.changes.length : 0), 0)
      t0 = performance.now()
      for (let k = 0; k < all.length; k += 200) b.apply(all.slice(k, k + 200))
      apply.push(total / ((performance.now() - t0) / 1000))
      a.close()
      s.close()
      b.close()
    }
    const p = median(plain)
    rows.push({ measure: 'plain better-sqlite3 insert (1 tx)', 'rows/s': p, 'ratio vs plain': 1 })
    rows.push({
      measure: 'engine.transaction (1 tx)',
      'rows/s': median(engineBig),
      'ratio vs plain': median(engineBig) / p,
    })
    rows.push({
      measure: 'engine.transaction (100 rows/tx)',
      'rows/s': median(engineSmall),
      'ratio vs plain': median(engineSmall) / p,
    })
    rows.push({
      measure: 'engine.apply remote (changes/s, 200 changesets/call)',
      'rows/s': median(apply),
      'ratio vs plain': NaN,
    })
    rows.push({ measure: 'wire bytes per change (msgpack)', 'rows/s': bytesPerChange, 'ratio vs plain': NaN })
    report('core', rows, { rowsPerRun: N, runs: RUNS, columnsPerRow: 5, changesPerRow: 5 })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
