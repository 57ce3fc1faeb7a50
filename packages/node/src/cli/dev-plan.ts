/**
 * The pure part of `patina dev`: which nodes to start, with which ports and configs, the demo
 * schema and data, and how a child's log line is shown. `commands/dev.ts` does the I/O.
 */
import { join, relative } from 'node:path'
import { stringify } from 'smol-toml'

export interface DevOptions {
  workers: number
  edges: number
  /** Directory for configs, databases and sockets. */
  dir: string
}

export interface DevWorker {
  name: string
  dir: string
  configPath: string
  apiPort: number
  gossipPort: number
  apiUrl: string
  config: string
}

export interface DevEdge {
  name: string
  dir: string
  configPath: string
  port: number
  url: string
  config: string
}

export interface DevPlan {
  schemaDir: string
  schemaPath: string
  workers: DevWorker[]
  edges: DevEdge[]
}

/** The demo routing schema: what an edge proxy needs to route a request. */
export const DEMO_SCHEMA = `-- Demo routing schema written by \`patina dev\`.
CREATE TABLE apps (
  name TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE backends (
  addr TEXT NOT NULL PRIMARY KEY,
  app TEXT NOT NULL DEFAULT '',
  region TEXT NOT NULL DEFAULT '',
  healthy INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE routes (
  host TEXT NOT NULL PRIMARY KEY,
  app TEXT NOT NULL DEFAULT '',
  backend_addr TEXT NOT NULL DEFAULT '',
  weight INTEGER NOT NULL DEFAULT 100,
  updated_at INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX routes_app ON routes (app);
`

/** The query the demo edges keep in memory. */
export const DEMO_EDGE_QUERY = 'SELECT host, app, backend_addr, weight FROM routes'

export type DemoStatement = [string, (string | number)[]]

/** Demo rows, grouped by table so that seeding can report progress per table. */
export function demoData(nowMs: number): { table: string; statements: DemoStatement[] }[] {
  const apps = [
    ['shop', 'team-commerce'],
    ['api', 'team-platform'],
    ['blog', 'team-content'],
  ]
  const regions = ['ams', 'iad', 'syd']
  const backends: [string, string, string][] = []
  apps.forEach(([app], i) => {
    for (let j = 0; j < 2; j++)
      backends.push([`10.0.${i}.${j + 10}:8080`, app ?? '', regions[(i + j) % regions.length] ?? ''])
  })
  const hosts: [string, string][] = [
    ['shop.example.com', 'shop'],
    ['www.shop.example.com', 'shop'],
    ['checkout.shop.example.com', 'shop'],
    ['cdn.shop.example.com', 'shop'],
    ['api.example.com', 'api'],
    ['api-eu.example.com', 'api'],
    ['api-us.example.com', 'api'],
    ['graphql.example.com', 'api'],
    ['blog.example.com', 'blog'],
    ['www.blog.example.com', 'blog'],
    ['feeds.blog.example.com', 'blog'],
    ['static.blog.example.com', 'blog'],
  ]
  const backendOf = (app: string, i: number) => backends.filter((b) => b[1] === app)[i % 2]?.[0] ?? ''
  return [
    {
      table: 'apps',
      statements: apps.map(([name, owner]) => [
        'INSERT INTO apps (name, owner, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING',
        [name ?? '', owner ?? '', nowMs],
      ]),
    },
    {
      table: 'backends',
      statements: backends.map(([addr, app, region]) => [
        'INSERT INTO backends (addr, app, region, healthy) VALUES (?, ?, ?, 1) ON CONFLICT (addr) DO NOTHING',
        [addr, app, region],
      ]),
    },
    {
      table: 'routes',
      statements: hosts.map(([host, app], i) => [
        'INSERT INTO routes (host, app, backend_addr, weight, updated_at) VALUES (?, ?, ?, 100, ?) ON CONFLICT (host) DO NOTHING',
        [host, app, backendOf(app, i), nowMs],
      ]),
    },
  ]
}

/**
 * Ports: with a base port, worker i (0-based) gets API `base + i` and gossip `base + 100 + i`,
 * edge j gets `base + 200 + j`; otherwise `freePorts` (2 per worker, then 1 per edge) are used.
 */
export function planDev(
  opts: DevOptions,
  ports: { basePort: number } | { freePorts: readonly number[] },
): DevPlan {
  const port = (kind: 'api' | 'gossip' | 'edge', i: number): number => {
    if ('basePort' in ports) return ports.basePort + (kind === 'api' ? 0 : kind === 'gossip' ? 100 : 200) + i
    const idx = kind === 'api' ? 2 * i : kind === 'gossip' ? 2 * i + 1 : 2 * opts.workers + i
    const p = ports.freePorts[idx]
    if (p === undefined) throw new Error(`not enough free ports: need ${2 * opts.workers + opts.edges}`)
    return p
  }
  const schemaDir = join(opts.dir, 'schema')
  const workers: DevWorker[] = []
  for (let i = 0; i < opts.workers; i++) {
    const name = `worker-${i + 1}`
    const dir = join(opts.dir, name)
    workers.push({
      name,
      dir,
      configPath: join(dir, 'config.toml'),
      apiPort: port('api', i),
      gossipPort: port('gossip', i),
      apiUrl: `http://127.0.0.1:${port('api', i)}`,
      config: '',
    })
  }
  for (const w of workers) {
    const doc = {
      db: { path: join(w.dir, 'state.db'), schema_paths: [schemaDir] },
      gossip: {
        // Several nodes on one host: the `local` timings (config/presets.ts).
        preset: 'local',
        addr: `127.0.0.1:${w.gossipPort}`,
        bootstrap: workers.filter((o) => o !== w).map((o) => `127.0.0.1:${o.gossipPort}`),
        region: 'dev',
      },
      api: { addr: `127.0.0.1:${w.apiPort}` },
      admin: { path: join(w.dir, 'admin.sock') },
      // `patina dev` parses the JSON lines and shows them with a prefix per node.
      log: { format: 'json', level: 'info' },
    }
    w.config = `# ${w.name} of \`patina dev\` (generated; see docs/config.md)\n${stringify(doc)}\n`
  }
  const edges: DevEdge[] = []
  for (let j = 0; j < opts.edges; j++) {
    const name = `edge-${j + 1}`
    const dir = join(opts.dir, name)
    const p = port('edge', j)
    // `@patina/edge`'s config (packages/edge/src/config.ts).
    const doc = {
      workers: workers.map((w) => w.apiUrl),
      listen: `127.0.0.1:${p}`,
      state_file: join(dir, 'views.json'),
      queries: [{ name: 'routes', sql: DEMO_EDGE_QUERY, key: ['host'] }],
    }
    edges.push({
      name,
      dir,
      configPath: join(dir, 'edge.toml'),
      port: p,
      url: `http://127.0.0.1:${p}`,
      config: `# ${name} of \`patina dev\` (generated)\n${stringify(doc)}\n`,
    })
  }
  return { schemaDir, schemaPath: join(schemaDir, 'routing.sql'), workers, edges }
}

/** Example commands printed once the cluster is up (paths relative to `cwd`). */
export function exampleCommands(plan: DevPlan, cwd: string, cli = 'pnpm patina'): string[] {
  const cfg = (i: number) => {
    const w = plan.workers[Math.min(i, plan.workers.length - 1)]
    if (!w) return ''
    const rel = relative(cwd, w.configPath)
    return rel.startsWith('..') ? w.configPath : rel
  }
  const last = plan.workers.length - 1
  const lines = [
    `${cli} -c ${cfg(0)} query --columns "SELECT host, app, backend_addr FROM routes ORDER BY host"`,
    `${cli} -c ${cfg(last)} exec --param api.example.com "UPDATE routes SET backend_addr = '10.0.9.9:8080', updated_at = unixepoch() WHERE host = ?"`,
    `${cli} -c ${cfg(Math.min(1, last))} subscribe "SELECT host, backend_addr FROM routes WHERE app = 'api'"`,
    `${cli} -c ${cfg(0)} cluster members`,
    `curl -s ${plan.workers[0]?.apiUrl ?? ''}/v1/queries -H 'content-type: application/json' -d '"SELECT count(*) FROM routes"'`,
  ]
  const edge = plan.edges[0]
  if (edge) lines.push(`curl -s '${edge.url}/v1/lookup/routes?key=api.example.com'`)
  return lines
}

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
}
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component', 'v'])

/** A child's pino JSON line as one readable line (`12:00:01.123 INFO  [sync] msg k=v`); other text unchanged. */
export function formatChildLog(line: string): string {
  let obj: Record<string, unknown>
  try {
    const parsed = JSON.parse(line) as unknown
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return line
    obj = parsed as Record<string, unknown>
  } catch {
    return line
  }
  const time = typeof obj['time'] === 'number' ? new Date(obj['time']).toISOString().slice(11, 23) : ''
  const level =
    typeof obj['level'] === 'number'
      ? (LEVELS[obj['level']] ?? String(obj['level']))
      : String(obj['level'] ?? '')
  const component = typeof obj['component'] === 'string' ? `[${obj['component']}] ` : ''
  const rest = Object.entries(obj)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ')
  return `${time} ${level.padEnd(5)} ${component}${String(obj['msg'] ?? '')}${rest ? ` ${rest}` : ''}`.trim()
}

const COLORS = [36, 33, 35, 32, 34, 91, 96, 93]

/** `worker-1 | ` with a color per node when `color` is true. */
export function prefixFor(name: string, index: number, width: number, color: boolean): string {
  const label = `${name.padEnd(width)} |`
  return color ? `\u001b[${COLORS[index % COLORS.length] ?? 36}m${label}\u001b[0m ` : `${label} `
}
