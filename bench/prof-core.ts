import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { createStateEngine, type Statement } from '@patina/core'
const dir = mkdtempSync(join(tmpdir(), 'prof-'))
const SCHEMA = `CREATE TABLE routes (host TEXT NOT NULL PRIMARY KEY, app TEXT, backend TEXT, weight INTEGER NOT NULL DEFAULT 1, updated_at INTEGER)`
const INSERT = 'INSERT INTO routes (host, app, backend, weight, updated_at) VALUES (?, ?, ?, ?, ?)'
const p = (i: number) => [
  `host-${i}.example.com`,
  `app-${i % 500}`,
  `10.0.0.${i & 255}:8080`,
  1 + (i % 10),
  1_700_000_000 + i,
]
for (let r = 0; r < 4; r++) {
  const db = new Database(join(dir, `p${r}.sqlite`))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(SCHEMA)
  const st = db.prepare(INSERT)
  let c0 = process.cpuUsage()
  let t0 = performance.now()
  db.transaction(() => {
    for (let i = 0; i < 100000; i++) st.run(...p(i))
  })()
  const plain = (process.cpuUsage(c0).user + process.cpuUsage(c0).system) / 1000
  const a = createStateEngine({ path: join(dir, `e${r}.sqlite`), schema: SCHEMA })
  const stmts: Statement[] = Array.from({ length: 100000 }, (_, i) => ({
    sql: INSERT,
    params: p(i) as never,
  }))
  c0 = process.cpuUsage()
  a.transaction(stmts)
  const cu = process.cpuUsage(c0)
  const eng = (cu.user + cu.system) / 1000
  console.log('plain', plain.toFixed(0), 'engine', eng.toFixed(0), 'ratio', (plain / eng).toFixed(3))
  a.close()
}
