import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createStateEngine, openSubsStore, type StateEngine, type SubsStore } from '@patina/core'
import pino from 'pino'
import type { EventSink } from '../../src/subs/hub.js'

export const SCHEMA = `
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '', team INTEGER, score REAL, data BLOB);
CREATE TABLE teams (id INTEGER PRIMARY KEY, title TEXT, region TEXT);
CREATE TABLE tags (user_id INTEGER NOT NULL, tag TEXT NOT NULL, note TEXT, PRIMARY KEY (user_id, tag));
`

export interface Env {
  dir: string
  engine: StateEngine
  store: SubsStore
  logger: pino.Logger
  /** Closes and reopens the engine (with `next` as its schema, when given) and the store. */
  reopen(next?: string): void
  cleanup(): void
}

/** A state engine and a subscription store in a fresh temp dir. */
export function makeEnv(initialSchema = SCHEMA): Env {
  let schema = initialSchema
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'patina-subs-'))
  const env: Env = {
    dir,
    engine: createStateEngine({ path: path.join(dir, 'state.db'), schema }),
    store: openSubsStore(path.join(dir, 'subs.db')),
    logger: pino({ level: 'silent' }),
    reopen(next) {
      env.engine.close()
      env.store.close()
      if (next !== undefined) schema = next
      env.engine = createStateEngine({ path: path.join(dir, 'state.db'), schema })
      env.store = openSubsStore(path.join(dir, 'subs.db'))
    },
    cleanup() {
      try {
        env.engine.close()
      } catch {
        // already closed
      }
      try {
        env.store.close()
      } catch {
        // already closed
      }
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
  return env
}

/** An in-memory EventSink that records every line. */
export class MemorySink implements EventSink {
  lines: string[] = []
  closed = false
  private closeCbs: (() => void)[] = []
  write(line: string): boolean {
    if (this.closed) return false
    this.lines.push(line)
    return true
  }
  async pipeFrom(source: Iterable<string> | AsyncIterable<string>): Promise<void> {
    for await (const l of source) {
      if (this.closed) return
      this.lines.push(l)
    }
  }
  fail(message: string): void {
    if (this.closed) return
    this.lines.push(JSON.stringify({ error: message }) + '\n')
    this.end()
  }
  end(): void {
    if (this.closed) return
    this.closed = true
    for (const cb of this.closeCbs.splice(0)) cb()
  }
  onClose(cb: () => void): void {
    if (this.closed) cb()
    else this.closeCbs.push(cb)
  }
  events(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>)
  }
}

type Cells = unknown[]
/** Applies a subscription event stream to a map rowid -> cells (what a client does). */
export function applyEvents(
  events: Record<string, unknown>[],
  into = new Map<number, Cells>(),
): Map<number, Cells> {
  for (const e of events) {
    // A snapshot replaces whatever the client held.
    if ('columns' in e) into.clear()
    else if ('row' in e) {
      const [rowid, cells] = e['row'] as [number, Cells]
      into.set(rowid, cells)
    } else if ('change' in e) {
      const [type, rowid, cells] = e['change'] as [string, number, Cells, number]
      if (type === 'delete') into.delete(rowid)
      else into.set(rowid, cells)
    }
  }
  return into
}

/** Sorted JSON of a row multiset, for order-insensitive comparison. */
export function canon(rows: Iterable<Cells>): string[] {
  return [...rows].map((r) => JSON.stringify(r)).sort()
}
