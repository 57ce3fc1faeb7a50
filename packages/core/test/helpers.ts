import type { SqlValue } from '@patina/api'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStateEngine, type StateEngine } from '../src/index.js'

export const TEST_SCHEMA = `
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER NOT NULL DEFAULT 0, data BLOB);
CREATE TABLE pairs (a TEXT NOT NULL, b INTEGER NOT NULL, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
CREATE INDEX items_name ON items (name);
`

/** Engines on temp files, closed and removed by `cleanup()`. */
export function engines(): {
  open(schema?: string, name?: string): StateEngine
  dir: string
  cleanup(): void
} {
  const dir = mkdtempSync(join(tmpdir(), 'patina-core-'))
  const opened: StateEngine[] = []
  let n = 0
  return {
    dir,
    open(schema = TEST_SCHEMA, name = `db${n++}.sqlite`) {
      const e = createStateEngine({ path: join(dir, name), schema })
      opened.push(e)
      return e
    },
    cleanup() {
      for (const e of opened) e.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export function dump(e: StateEngine, table = 'items'): SqlValue[][] {
  const pk = table === 'pairs' ? 'a, b' : table === 'items' ? 'id' : 'rowid'
  return [...e.query(`SELECT * FROM ${table} ORDER BY ${pk}`).rows]
}
