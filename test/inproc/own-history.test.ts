/**
 * Issue 12, item 5: a node restarted from an older copy of its database (a file copy, a VM
 * snapshot, commits an OS crash rolled back) finds out at start, before it accepts writes,
 * whether peers know versions of its own actor beyond its database; it takes them back and
 * continues after them, or, when no peer answers, takes a new actor id. Real agents, libp2p on
 * loopback.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger, startAgent, type Agent, type ConfigOverride } from '@patina/node'
import { exec, queryRows, TEST_SCHEMA, testAgentConfig, waitFor } from '../helpers/cluster.js'

let dir: string
const running: Agent[] = []
afterEach(async () => {
  await Promise.allSettled(running.splice(0).map((a) => a.stop()))
  rmSync(dir, { recursive: true, force: true })
})

async function start(name: string, bootstrap: string[], extra: ConfigOverride[] = []): Promise<Agent> {
  const config = testAgentConfig(dir, name, bootstrap, extra)
  const logger = createLogger(
    { format: 'json', level: 'error', colors: false },
    { destination: 2, base: { node: name } },
  )
  const agent = await startAgent(config, { logger })
  running.push(agent)
  return agent
}
const gossipOf = (a: Agent): string[] =>
  a.cluster
    .members()
    .filter((m) => m.self)
    .flatMap((m) => m.gossip_addrs)
async function stop(a: Agent): Promise<void> {
  await a.stop()
  running.splice(running.indexOf(a), 1)
}
/** The database files of a stopped node: the file and, if present, its WAL. */
function copyDb(from: string, to: string): void {
  mkdirSync(to, { recursive: true })
  for (const f of ['state.db', 'state.db-wal']) {
    rmSync(join(to, f), { force: true })
    if (existsSync(join(from, f))) copyFileSync(join(from, f), join(to, f))
  }
  rmSync(join(to, 'state.db-shm'), { force: true })
}

describe('own history at start', () => {
  it('a node restarted from an older copy of its database takes back the versions peers know beyond it, then continues after them', async () => {
    dir = mkdtempSync(join(tmpdir(), 'patina-own-history-'))
    writeFileSync(join(dir, 'schema.sql'), TEST_SCHEMA)
    const b = await start('b', [])
    let a = await start('a', gossipOf(b))
    const actor = a.engine.actorId
    expect((await exec(a.apiUrl, ["INSERT INTO tests (id, text) VALUES (1, 'v1')"])).version).toBe(1)
    await waitFor('b has v1', () => b.engine.contains(actor, 1))
    await stop(a)
    copyDb(join(dir, 'a'), join(dir, 'old'))
    a = await start('a', gossipOf(b))
    for (const v of [2, 3])
      expect((await exec(a.apiUrl, [`INSERT INTO tests (id, text) VALUES (${v}, 'v${v}')`])).version).toBe(v)
    await waitFor('b has v3', () => b.engine.containsThrough(actor, 3))
    await stop(a)
    // the operator puts back the old copy (or a VM snapshot comes back): version 1 only
    copyDb(join(dir, 'old'), join(dir, 'a'))
    a = await start('a', gossipOf(b))
    expect(a.engine.actorId).toBe(actor)
    expect(a.engine.stats().version).toBe(3)
    const w = await exec(a.apiUrl, ["INSERT INTO tests (id, text) VALUES (4, 'after the restore')"])
    expect(w).toMatchObject({ version: 4, actor_id: actor })
    await waitFor('b has v4', () => b.engine.containsThrough(actor, 4))
    const all = 'SELECT id, text FROM tests ORDER BY id'
    expect(await queryRows(b.apiUrl, all)).toEqual([
      [1, 'v1'],
      [2, 'v2'],
      [3, 'v3'],
      [4, 'after the restore'],
    ])
    expect(await queryRows(a.apiUrl, all)).toEqual(await queryRows(b.apiUrl, all))
  })

  it('when no peer answers within db.own_history_wait_ms, a node with an existing actor id takes a new one; its old versions still replicate', async () => {
    dir = mkdtempSync(join(tmpdir(), 'patina-own-history-'))
    writeFileSync(join(dir, 'schema.sql'), TEST_SCHEMA)
    const b = await start('b', [])
    let a = await start('a', gossipOf(b), [{ key: 'db.own_history_wait_ms', value: 300 }])
    const old = a.engine.actorId
    await exec(a.apiUrl, ["INSERT INTO tests (id, text) VALUES (1, 'old actor')"])
    await waitFor('b has it', () => b.engine.contains(old, 1))
    const bGossip = gossipOf(b)
    await stop(a)
    await stop(b)
    // a alone, its peer gone: it cannot tell an old copy from a current one
    a = await start('a', bGossip, [{ key: 'db.own_history_wait_ms', value: 300 }])
    expect(a.engine.actorId).not.toBe(old)
    expect(a.engine.actorCreated).toBe(true)
    const w = await exec(a.apiUrl, ["UPDATE tests SET text = 'new actor' WHERE id = 1"])
    expect(w).toMatchObject({ version: 1, actor_id: a.engine.actorId })
    // a fresh peer syncs both actors' versions from a
    const c = await start('c', gossipOf(a))
    await waitFor(
      'c has both actors',
      () => c.engine.containsThrough(old, 1) && c.engine.containsThrough(a.engine.actorId, 1),
    )
    expect(await queryRows(c.apiUrl, 'SELECT id, text FROM tests')).toEqual([[1, 'new actor']])
  })

  it('a node alone (no bootstrap entry, no remembered member) keeps its actor id and starts without waiting', async () => {
    dir = mkdtempSync(join(tmpdir(), 'patina-own-history-'))
    writeFileSync(join(dir, 'schema.sql'), TEST_SCHEMA)
    let solo = await start('solo', [])
    const id = solo.engine.actorId
    await exec(solo.apiUrl, ["INSERT INTO tests (id, text) VALUES (1, 'x')"])
    await stop(solo)
    solo = await start('solo', [])
    expect(solo.engine.actorId).toBe(id)
  })
})
