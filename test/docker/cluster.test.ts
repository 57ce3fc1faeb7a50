/**
 * A Patina cluster in real containers (the image of deploy/Dockerfile, built by
 * deploy/build-image.sh): three workers on one user-defined network, then node loss
 * (`docker kill`), a partition (`docker network disconnect`) and an edge through a worker
 * failure. Traffic goes only to these containers: their IPs on the test network, or
 * `docker exec` for a worker that is cut off from it.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  IMAGE,
  TEST_LABEL,
  docker,
  dockerSuite,
  execSql,
  getJson,
  ipOn,
  parseRows,
  prepareImageRun,
  queryRows,
  removeLabelled,
  waitFor,
  workerContainer,
} from './helpers.js'
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers'

const RUN = `${process.pid}-${randomBytes(3).toString('hex')}`
const NET = `patina-test-${RUN}`
const LABELS = { [TEST_LABEL]: RUN }
const WORKERS = [1, 2, 3].map((i) => `patina-test-${RUN}-w${i}`)
const EDGE = `patina-test-${RUN}-edge`
/** Bound of every convergence wait; anti-entropy runs at least every 3 s here (TUNING), this leaves room for a loaded 2-core machine. */
const CONVERGE_MS = 90_000
const CLI = ['node', '/opt/patina/dist/cli/main.js']

const started: StartedTestContainer[] = []

function startWorker(i: number): Promise<StartedTestContainer> {
  const name = WORKERS[i]!
  return workerContainer(name, WORKERS, NET, LABELS).start()
}

async function url(container: string): Promise<string> {
  const ip = await ipOn(container, NET)
  if (ip === null) throw new Error(`${container} has no address on ${NET}`)
  return `http://${ip}:8080`
}

const ROUTES = 'SELECT host, app, backend_addr, weight FROM routes ORDER BY host'

async function routesOn(container: string): Promise<unknown[][]> {
  return queryRows(await url(container), ROUTES)
}

function insertRoute(host: string, app: string, backend = '10.0.0.1:443'): unknown[] {
  return [
    'INSERT INTO routes (host, app, backend_addr) VALUES (?, ?, ?) ON CONFLICT (host) DO UPDATE SET app = excluded.app, backend_addr = excluded.backend_addr',
    [host, app, backend],
  ]
}

/** Waits until every worker returns the same rows and they hold every host of `hosts`. */
async function converged(hosts: string[]): Promise<unknown[][]> {
  return waitFor(
    `all workers to hold the same routes including ${hosts.join(', ')}`,
    async () => {
      const views = await Promise.all(WORKERS.map((w) => routesOn(w)))
      const first = JSON.stringify(views[0])
      if (!views.every((v) => JSON.stringify(v) === first)) return false
      const have = new Set(views[0]!.map((r) => r[0]))
      return hosts.every((h) => have.has(h)) ? views[0] : false
    },
    { timeoutMs: CONVERGE_MS, intervalMs: 250 },
  )
}

async function healthy(container: string): Promise<void> {
  await waitFor(
    `${container} to answer /v1/health`,
    async () => (await getJson(`${await url(container)}/v1/health`)).status === 200,
    { timeoutMs: 60_000, intervalMs: 250 },
  )
}

const { ready } = dockerSuite({
  async setup() {
    await prepareImageRun(IMAGE, NET, RUN)
    // One after the other: the 2-core machine starts each in about a second.
    for (let i = 0; i < WORKERS.length; i++) started.push(await startWorker(i))
  },
  async teardown(suite) {
    await Promise.allSettled(started.map((c) => c.stop({ timeout: 1 })))
    // Also whatever a failed start or a failed test left behind.
    await removeLabelled(TEST_LABEL, RUN).catch((err: unknown) => {
      if (!suite.failed) throw err
    })
  },
})

describe('image', () => {
  it('runs as a non-root user, with a healthcheck on /v1/health and a data volume', async () => {
    ready()
    const cfg = JSON.parse(await docker(['image', 'inspect', '-f', '{{json .Config}}', IMAGE])) as {
      User: string
      Healthcheck: { Test: string[] } | null
      Volumes: Record<string, unknown> | null
      Entrypoint: string[]
      Env: string[]
    }
    expect(cfg.User).not.toBe('')
    expect(cfg.User.split(':')[0]).not.toMatch(/^(0|root)$/)
    expect(cfg.Healthcheck?.Test[0]).toBe('CMD')
    expect(cfg.Healthcheck?.Test.join(' ')).toContain('PATINA_HEALTH_URL')
    expect(cfg.Env).toContain('PATINA_HEALTH_URL=http://127.0.0.1:8080/v1/health')
    expect(Object.keys(cfg.Volumes ?? {})).toEqual(['/var/lib/patina'])
    expect(cfg.Entrypoint).toEqual(CLI)
    // The healthcheck itself passes on a running worker.
    await waitFor(
      `${WORKERS[0]} to be healthy`,
      async () => (await docker(['inspect', '-f', '{{.State.Health.Status}}', WORKERS[0]!])) === 'healthy',
      { timeoutMs: 60_000, intervalMs: 500 },
    )
    expect(await docker(['exec', WORKERS[0]!, 'node', '-e', 'console.log(process.getuid())'])).toBe('1000')
  })
})

describe('three workers in containers', () => {
  it('writes on each worker converge on every worker', async () => {
    ready()
    await waitFor(
      'every worker to see the two others alive',
      async () => {
        for (const w of WORKERS) {
          const { body } = await getJson(`${await url(w)}/v1/cluster/members`)
          const members = (body as { members: { state: string; self: boolean }[] }).members
          if (members.filter((m) => !m.self && m.state === 'alive').length !== 2) return false
        }
        return true
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    )
    const hosts: string[] = []
    for (const [i, w] of WORKERS.entries()) {
      for (let j = 0; j < 5; j++) {
        const host = `w${i + 1}-${j}.example`
        hosts.push(host)
        await execSql(await url(w), [insertRoute(host, `app-${i + 1}`)])
      }
    }
    const rows = await converged(hosts)
    expect(rows.map((r) => r[0])).toEqual([...hosts].sort())
  })

  it('a killed worker misses writes and catches up after a restart', async () => {
    ready()
    const victim = WORKERS[1]!
    await docker(['kill', victim])
    const during: string[] = []
    for (let j = 0; j < 10; j++) {
      const host = `while-killed-${j}.example`
      during.push(host)
      await execSql(await url(WORKERS[j % 2 === 0 ? 0 : 2]!), [insertRoute(host, 'during-kill')])
    }
    expect(await docker(['inspect', '-f', '{{.State.Running}}', victim])).toBe('false')
    await docker(['start', victim])
    await healthy(victim)
    await converged(during)
    // And it takes writes again, which reach the others.
    await execSql(await url(victim), [insertRoute('after-restart.example', 'after')])
    await converged(['after-restart.example'])
  })

  it('both sides of a partition take writes and converge after it heals', async () => {
    ready()
    const isolated = WORKERS[2]!
    const majority = WORKERS[0]!
    await docker(['network', 'disconnect', NET, isolated])
    expect(await ipOn(isolated, NET)).toBeNull()

    // Majority side: through the network. Isolated side: through docker exec (no network).
    await execSql(await url(majority), [
      insertRoute('part-majority.example', 'majority'),
      insertRoute('part-both.example', 'majority', '10.1.0.1:443'),
    ])
    const ins = (host: string, app: string, backend: string) =>
      `INSERT INTO routes (host, app, backend_addr) VALUES ('${host}', '${app}', '${backend}') ON CONFLICT (host) DO UPDATE SET app = excluded.app, backend_addr = excluded.backend_addr`
    await docker(['exec', isolated, ...CLI, 'exec', ins('part-isolated.example', 'isolated', '10.3.0.1:443')])
    await docker(['exec', isolated, ...CLI, 'exec', ins('part-both.example', 'isolated', '10.3.0.2:443')])
    // The cut is real: the isolated worker has not received the majority's write.
    const isolatedRows = parseRows(
      await docker([
        'exec',
        isolated,
        'node',
        '-e',
        fetchScript('SELECT host, app FROM routes ORDER BY host'),
      ]),
    )
    expect(isolatedRows.map((r) => r[0])).not.toContain('part-majority.example')
    expect(isolatedRows).toContainEqual(['part-both.example', 'isolated'])

    await docker(['network', 'connect', NET, isolated])
    const rows = await converged(['part-majority.example', 'part-isolated.example', 'part-both.example'])
    const both = rows.find((r) => r[0] === 'part-both.example')
    // Both sides inserted the row with the same clock: per cell, the larger value wins
    // (DESIGN.md, merge), whichever side's change arrived first.
    expect(both).toEqual([
      'part-both.example',
      ['majority', 'isolated'].sort().at(-1),
      ['10.1.0.1:443', '10.3.0.2:443'].sort().at(-1),
      100,
    ])
  })

  it('an edge keeps serving lookups while the worker it follows is killed', async () => {
    ready()
    const workersUrl = WORKERS.map((w) => `"http://${w}:8080"`).join(', ')
    const edgeToml = [
      `workers = [${workersUrl}]`,
      'listen = "0.0.0.0:8900"',
      'probe_interval_ms = 500',
      'probe_timeout_ms = 1000',
      'connect_timeout_ms = 3000',
      '[[queries]]',
      'name = "routes"',
      'sql = "SELECT host, app, backend_addr, weight FROM routes"',
      'key = ["host"]',
      '',
    ].join('\n')
    const edge = await new GenericContainer(IMAGE)
      .withName(EDGE)
      .withNetworkMode(NET)
      .withLabels(LABELS)
      .withEnvironment({ PATINA_HEALTH_URL: 'http://127.0.0.1:8900/v1/health' })
      .withCopyContentToContainer([{ content: edgeToml, target: '/etc/patina/edge-test.toml', mode: 0o644 }])
      .withCommand(['-c', '/etc/patina/edge-test.toml', 'edge'])
      .withWaitStrategy(Wait.forLogMessage('edge listening'))
      .withStartupTimeout(60_000)
      .start()
    started.push(edge)
    const edgeIp = await ipOn(EDGE, NET)
    const lookup = async (host: string) =>
      getJson(`http://${edgeIp}:8900/v1/lookup/routes?key=${encodeURIComponent(host)}`)

    await execSql(await url(WORKERS[0]!), [insertRoute('edge-before.example', 'edge', '10.9.0.1:443')])
    await waitFor(
      'the edge to serve edge-before.example',
      async () => (await lookup('edge-before.example')).status === 200,
      { timeoutMs: 60_000, intervalMs: 250 },
    )

    // Kill the worker the edge follows.
    const followed = await waitFor(
      'the edge to report the worker it follows',
      async () => {
        const { body } = await getJson(`http://${edgeIp}:8900/v1/health`)
        const w = (body as { queries?: Record<string, { worker: string | null }> }).queries?.['routes']
          ?.worker
        return typeof w === 'string' ? w : false
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    )
    const victim = WORKERS.find((w) => followed.includes(w))
    expect(victim, `edge follows ${followed}`).toBeDefined()
    await docker(['kill', victim!])

    // Every lookup during the failure is answered from memory, and a write made on a
    // surviving worker during the failure reaches the edge.
    const survivor = WORKERS.find((w) => w !== victim)!
    await execSql(await url(survivor), [insertRoute('edge-during.example', 'edge', '10.9.0.2:443')])
    // waitFor retries on exceptions, so a failed lookup is recorded, not thrown.
    const expected = [{ host: 'edge-before.example', app: 'edge', backend_addr: '10.9.0.1:443', weight: 100 }]
    const failures: string[] = []
    let lookups = 0
    await waitFor(
      'the edge to serve edge-during.example (written while its worker was down)',
      async () => {
        lookups++
        try {
          const before = await lookup('edge-before.example')
          const rows = (before.body as { rows?: unknown[] }).rows
          if (before.status !== 200 || JSON.stringify(rows) !== JSON.stringify(expected))
            failures.push(`${before.status} ${JSON.stringify(before.body)}`)
        } catch (err) {
          failures.push(String(err))
        }
        return (await lookup('edge-during.example')).status === 200
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    )
    expect(failures).toEqual([])
    expect(lookups).toBeGreaterThan(0)
    const health = await getJson(`http://${edgeIp}:8900/v1/health`)
    expect(health.status).toBe(200)

    await docker(['start', victim!])
    await healthy(victim!)
  })
})

/** A `node -e` script that runs a query on the container's own API and prints the NDJSON. */
function fetchScript(sql: string): string {
  return `fetch('http://127.0.0.1:8080/v1/queries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(
    JSON.stringify(sql),
  )} }).then((r) => r.text()).then((t) => process.stdout.write(t), (e) => { console.error(e); process.exit(1) })`
}
