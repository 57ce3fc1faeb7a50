import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, startAgent, type Agent, type ConfigOverride, type PatinaConfig } from '@patina/node'
import { testLogger } from './log.js'
import { TEST_SCHEMA } from './schema.js'

export { TEST_SCHEMA } from './schema.js'

export interface TestCluster {
  dir: string
  agents: Agent[]
  /** Start one more agent bootstrapping from the first one. */
  add(name?: string): Promise<Agent>
  stop(): Promise<void>
}

/**
 * The config of an in-process test agent `name` (the `test` preset): state and admin socket in
 * `<dir>/<name>/`, schema `<dir>/schema.sql`, gossip and API on 127.0.0.1 with ports the OS picks.
 */
export function testAgentConfig(
  dir: string,
  name: string,
  bootstrap: string[],
  overrides: ConfigOverride[] = [],
): PatinaConfig {
  return loadConfig({
    preset: 'test',
    env: {},
    cwd: dir,
    overrides: [
      { key: 'db.path', value: join(dir, name, 'state.db') },
      { key: 'db.schema_paths', value: [join(dir, 'schema.sql')] },
      { key: 'gossip.addr', value: '127.0.0.1:0' },
      { key: 'gossip.bootstrap', value: bootstrap },
      { key: 'api.addr', value: '127.0.0.1:0' },
      { key: 'admin.path', value: join(dir, name, 'admin.sock') },
      ...overrides,
    ],
  }).config
}

/** Starts `n` worker agents in this process on 127.0.0.1 with free ports and temp dirs. */
export async function startCluster(
  n: number,
  opts: { overrides?: ConfigOverride[]; schema?: string } = {},
): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'patina-cluster-'))
  writeFileSync(join(dir, 'schema.sql'), opts.schema ?? TEST_SCHEMA)
  const agents: Agent[] = []
  const bootstrap: string[] = []
  let count = 0
  const add = async (name = `n${count}`) => {
    count++
    const config = testAgentConfig(
      dir,
      name,
      [...bootstrap],
      [{ key: 'api.subscriptions.idle_timeout_ms', value: 5_000 }, ...(opts.overrides ?? [])],
    )
    const logger = testLogger({ node: name })
    const agent = await startAgent(config, { logger })
    agents.push(agent)
    if (bootstrap.length === 0)
      bootstrap.push(
        ...agent.cluster
          .members()
          .filter((m) => m.self)
          .flatMap((m) => m.gossip_addrs),
      )
    return agent
  }
  for (let i = 0; i < n; i++) await add()
  return {
    dir,
    agents,
    add,
    async stop() {
      await Promise.allSettled(agents.map((a) => a.stop()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export { waitFor } from './wait.js'
export { exec, queryRows } from './http.js'
