import { parseEdgeConfig } from '@patina/edge'
import { describe, expect, it } from 'vitest'
import {
  demoData,
  DEMO_SCHEMA,
  exampleCommands,
  formatChildLog,
  planDev,
  prefixFor,
} from '../../src/cli/dev-plan.js'
import { loadConfig } from '../../src/config/load.js'
import { clusterOptionsFrom } from '../../src/config/options.js'
import { PRESETS } from '../../src/config/presets.js'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

describe('planDev', () => {
  it('gives each worker its own ports and files, bootstrapping from the others', () => {
    const dir = mkdtempSync(join(tmpdir(), 'patina-dev-'))
    try {
      const plan = planDev(
        { workers: 3, edges: 1, dir },
        { freePorts: [5001, 5002, 5003, 5004, 5005, 5006, 5007] },
      )
      expect(plan.workers.map((w) => [w.name, w.apiPort, w.gossipPort])).toEqual([
        ['worker-1', 5001, 5002],
        ['worker-2', 5003, 5004],
        ['worker-3', 5005, 5006],
      ])
      expect(plan.edges.map((e) => [e.name, e.port])).toEqual([['edge-1', 5007]])
      for (const w of plan.workers) {
        mkdirSync(w.dir, { recursive: true })
        writeFileSync(w.configPath, w.config)
        const { config, warnings } = loadConfig({ configPath: w.configPath, env: {}, cwd: dir })
        expect(warnings).toEqual([])
        expect(config.api.addr).toEqual([`127.0.0.1:${w.apiPort}`])
        expect(config.gossip.addr).toBe(`127.0.0.1:${w.gossipPort}`)
        expect([...config.gossip.bootstrap].sort()).toEqual(
          plan.workers
            .filter((o) => o !== w)
            .map((o) => `127.0.0.1:${o.gossipPort}`)
            .sort(),
        )
        expect(config.db.path).toBe(join(w.dir, 'state.db'))
        expect(config.db.schema_paths).toEqual([plan.schemaDir])
        expect(config.admin.path).toBe(join(w.dir, 'admin.sock'))
        expect(config.gossip.preset).toBe('local')
        expect(config.gossip.sync_interval_max_ms).toBe(5000) // local preset
        // the timings without a key of their own come from the same preset
        expect(clusterOptionsFrom(config).preset).toBe(PRESETS.local)
        expect(config.log.format).toBe('json')
      }
      const edge = plan.edges[0]
      expect(edge).toBeDefined()
      const edgeConfig = parseEdgeConfig(edge?.config ?? '', 'edge-1')
      expect(edgeConfig.workers).toEqual(plan.workers.map((w) => w.apiUrl))
      expect(edgeConfig.listen).toBe('127.0.0.1:5007')
      expect(edgeConfig.queries).toEqual([
        { name: 'routes', sql: 'SELECT host, app, backend_addr, weight FROM routes', key: ['host'] },
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('uses fixed ports from a base port', () => {
    const plan = planDev({ workers: 2, edges: 2, dir: '/x' }, { basePort: 7000 })
    expect(plan.workers.map((w) => [w.apiPort, w.gossipPort])).toEqual([
      [7000, 7100],
      [7001, 7101],
    ])
    expect(plan.edges.map((e) => e.port)).toEqual([7200, 7201])
  })

  it('refuses when too few free ports were found', () => {
    expect(() => planDev({ workers: 2, edges: 1, dir: '/x' }, { freePorts: [1, 2, 3] })).toThrow(
      'not enough free ports',
    )
  })

  it('prints example commands relative to the working directory', () => {
    const plan = planDev({ workers: 3, edges: 0, dir: '/work/.patina-dev' }, { basePort: 7000 })
    const cmds = exampleCommands(plan, '/work')
    expect(cmds[0]).toBe(
      'pnpm patina -c .patina-dev/worker-1/config.toml query --columns "SELECT host, app, backend_addr FROM routes ORDER BY host"',
    )
    expect(cmds.some((c) => c.startsWith('pnpm patina -c .patina-dev/worker-3/config.toml exec'))).toBe(true)
  })
})

describe('demo schema and data', () => {
  it('follows the schema rules: every non-key NOT NULL column has a default', () => {
    for (const line of DEMO_SCHEMA.split('\n')) {
      if (/NOT NULL/.test(line) && !/PRIMARY KEY/.test(line)) expect(line).toMatch(/DEFAULT/)
    }
    expect(DEMO_SCHEMA).toMatch(/CREATE TABLE routes \(\s+host TEXT NOT NULL PRIMARY KEY/)
  })

  it('has rows for every table, each route pointing to a backend of its app', () => {
    const data = demoData(1000)
    expect(data.map((t) => [t.table, t.statements.length])).toEqual([
      ['apps', 3],
      ['backends', 6],
      ['routes', 12],
    ])
    const backends = new Map(data[1]?.statements.map(([, p]) => [p[0], p[1]]))
    for (const [, [host, app, backend]] of data[2]?.statements ?? []) {
      expect(backends.get(backend as string), String(host)).toBe(app)
    }
  })
})

describe('child log lines', () => {
  it('shows pino JSON as one readable line', () => {
    const line = JSON.stringify({
      level: 30,
      time: Date.UTC(2026, 0, 1, 12, 0, 1, 123),
      pid: 1,
      hostname: 'h',
      component: 'sync',
      msg: 'synced',
      peer: 'p1',
      changes: 2,
    })
    expect(formatChildLog(line)).toBe('12:00:01.123 INFO  [sync] synced peer=p1 changes=2')
    expect(formatChildLog('plain text')).toBe('plain text')
    expect(formatChildLog('[1,2]')).toBe('[1,2]')
  })

  it('prefixes with the node name, colored on a terminal', () => {
    expect(prefixFor('worker-1', 0, 8, false)).toBe('worker-1 | ')
    expect(prefixFor('edge-1', 3, 8, true)).toBe('\u001b[32medge-1   |\u001b[0m ')
  })
})

describe('example command paths', () => {
  it('uses absolute config paths when the dev dir is outside the working directory', () => {
    const plan = planDev({ workers: 1, edges: 0, dir: '/tmp/pdev' }, { basePort: 7000 })
    expect(exampleCommands(plan, '/work/main')[0]).toContain('-c /tmp/pdev/worker-1/config.toml query')
  })
})

describe('demo schema', () => {
  it('is the one the Docker image bakes in (deploy/docker/schema/routes.sql), statement for statement', async () => {
    const { readFileSync } = await import('node:fs')
    const { DEMO_SCHEMA } = await import('../../src/cli/dev-plan.js')
    const docker = readFileSync(
      new URL('../../../../deploy/docker/schema/routes.sql', import.meta.url),
      'utf8',
    )
    const statements = (sql: string) =>
      sql
        .split('\n')
        .filter((l) => !l.startsWith('--'))
        .join('\n')
        .split(';')
        .map((s) => s.replace(/\s+/g, ' ').trim())
        .filter(Boolean)
    expect(statements(docker)).toEqual(statements(DEMO_SCHEMA))
  })
})
