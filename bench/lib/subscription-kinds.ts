/**
 * Work per commit of a subscription of each kind of query (docs/api.md), in process: one
 * state engine, one subscription hub, a 100,000-row table; one row changes per commit and
 * the hub's maintenance step for that commit (`hub.flush()`) is timed.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStateEngine, openSubsStore } from '@patina/core'
import { createSubscriptionHub, type EventSink } from '@patina/node'
import pino from 'pino'
import { median, percentile, progress, type Row } from './report.js'

const SCHEMA = `CREATE TABLE big (id INTEGER NOT NULL PRIMARY KEY, host TEXT, backend TEXT, weight INTEGER NOT NULL DEFAULT 1, region INTEGER);
CREATE TABLE regions (id INTEGER NOT NULL PRIMARY KEY, name TEXT, active INTEGER NOT NULL DEFAULT 1);
CREATE INDEX big_region ON big (region);`

interface Kind {
  name: string
  sql: string
  /** Commits measured (re-run kinds cost a full query each). */
  commits: number
}

const KINDS: Kind[] = [
  {
    name: 'one table, WHERE',
    sql: 'SELECT id, host, backend, weight FROM big WHERE weight > 0',
    commits: 300,
  },
  {
    name: 'inner join of 2 tables',
    sql: 'SELECT b.id, b.host, r.name FROM big b JOIN regions r ON r.id = b.region',
    commits: 300,
  },
  {
    name: 'left join of 2 tables, CASE',
    sql: "SELECT b.id, CASE WHEN r.active = 1 THEN r.name ELSE 'off' END FROM big b LEFT JOIN regions r ON r.id = b.region",
    commits: 300,
  },
  {
    name: 'GROUP BY aggregate (8 groups)',
    sql: 'SELECT region, count(*), sum(weight) FROM big GROUP BY region',
    commits: 20,
  },
  {
    name: 'IN subquery',
    sql: 'SELECT id, host FROM big WHERE region IN (SELECT id FROM regions WHERE active = 1)',
    commits: 10,
  },
  {
    name: 'ORDER BY + LIMIT 100',
    sql: 'SELECT id, host, weight FROM big ORDER BY weight DESC, id LIMIT 100',
    commits: 20,
  },
  { name: 'DISTINCT', sql: 'SELECT DISTINCT host, weight FROM big', commits: 10 },
  { name: 'UNION ALL', sql: 'SELECT id, host FROM big UNION ALL SELECT id, name FROM regions', commits: 10 },
]

const nullSink = (): EventSink => {
  let closed = false
  return {
    get closed() {
      return closed
    },
    write: () => !closed,
    async pipeFrom(src) {
      for await (const _ of src) {
        // drained
      }
    },
    fail() {
      closed = true
    },
    end() {
      closed = true
    },
    onClose() {},
  }
}

export async function measureSubscriptionKinds(
  rows: number,
): Promise<{ rows: Row[]; extra: Record<string, unknown> }> {
  const dir = mkdtempSync(join(tmpdir(), 'patina-bench-kinds-'))
  const out: Row[] = []
  const detail: Record<string, unknown>[] = []
  try {
    const engine = createStateEngine({ path: join(dir, 'state.db'), schema: SCHEMA })
    const store = openSubsStore(join(dir, 'subs.db'))
    progress(`subscription kinds: loading ${rows} rows`)
    engine.transaction([
      {
        sql: `INSERT INTO regions (id, name) VALUES ${Array.from({ length: 8 }, (_, i) => `(${i}, 'r${i}')`).join(',')}`,
      },
    ])
    for (let k = 0; k < rows; k += 1000) {
      const n = Math.min(1000, rows - k)
      const values = Array.from(
        { length: n },
        (_, j) =>
          `(${k + j}, 'h${k + j}.example', '10.0.${(k + j) & 255}.1:80', ${1 + ((k + j) % 10)}, ${(k + j) % 8})`,
      ).join(',')
      engine.transaction([{ sql: `INSERT INTO big (id, host, backend, weight, region) VALUES ${values}` }])
    }
    const hub = createSubscriptionHub(
      { engine, store, logger: pino({ level: 'silent' }) },
      { rerunMaxRows: 2 * rows, rerunMaxMs: 60_000, rerunMaxShare: 1 },
    )
    let next = 0
    for (const kind of KINDS) {
      progress(`subscription kinds: ${kind.name}`)
      const t0 = performance.now()
      const { info } = hub.upsert({ sql: kind.sql })
      await hub.attach(info.id, nullSink())
      const snapshotMs = performance.now() - t0
      const query: number[] = []
      for (let i = 0; i < 3; i++) {
        const s = performance.now()
        let n = 0
        for (const _ of engine.query(kind.sql).rows) n++
        query.push(performance.now() - s)
        if (n === 0) throw new Error(`${kind.name}: no rows`)
      }
      const work: number[] = []
      for (let i = 0; i < kind.commits; i++) {
        const id = ((next++ + 1) * 7919) % rows
        engine.transaction([{ sql: 'UPDATE big SET weight = weight % 10 + 1 WHERE id = ?', params: [id] }])
        const s = performance.now()
        hub.flush()
        work.push(performance.now() - s)
      }
      const after = hub.get(info.id)
      if (!after || after.failed !== null)
        throw new Error(`${kind.name}: subscription failed: ${after?.failed}`)
      out.push({
        kind: kind.name,
        maintenance: info.maintenance,
        'result rows': info.rowCount,
        commits: kind.commits,
        'work/commit p50 ms': percentile(work, 50),
        'work/commit p99 ms': percentile(work, 99),
        'query alone ms': median(query),
        'first snapshot ms': snapshotMs,
      })
      detail.push({ kind: kind.name, sql: kind.sql, maintenance: info.maintenance, reason: info.rerunReason })
    }
    hub.close()
    store.close()
    engine.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return { rows: out, extra: { tableRows: rows, kinds: detail } }
}
