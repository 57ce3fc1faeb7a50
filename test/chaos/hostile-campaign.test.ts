/**
 * The hostile-input campaign of issue 21: two agents on loopback with a read and a write
 * token, and a seeded, bounded stream of hostile requests on every endpoint — malformed,
 * truncated, mutated, oversized, deeply nested and wrongly typed bodies, every token kind,
 * forbidden statements (internal functions and tables included), runaway statements with and
 * without `timeout` — interleaved with acknowledged writes, then connection abuse (slowloris
 * headers and bodies, the per-address cap) and garbage to the gossip port. Afterwards every
 * node answers health, replicates, and holds exactly the rows the acknowledged writes produced.
 *
 * Every hostile answer must be a 4xx (408 for a statement stopped at its deadline, 503 for the
 * documented connection cap), or Corrosion's 500 `PATINA_ERR_SQL` for a statement SQLite
 * itself refused; never another 5xx and never a connection dropped without an answer.
 *
 * PATINA_CAMPAIGN_SEED picks the seed, PATINA_CAMPAIGN_REQUESTS the number of requests
 * (a short run by default; docs/reliability.md has the long run).
 */
import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Agent } from '@patina/node'
import { startCluster, waitFor, type TestCluster } from '../helpers/cluster.js'
import { mulberry32 } from '../helpers/random.js'

const SEED = Number(process.env['PATINA_CAMPAIGN_SEED'] ?? 21)
const REQUESTS = Number(process.env['PATINA_CAMPAIGN_REQUESTS'] ?? 400)
const BODY_MAX = 64 * 1024
const CONN_MAX = 48
const READ = 'reader-token-21'
const WRITE = 'writer-token-21'
const RUNAWAY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c'

const rand = mulberry32(SEED)
const int = (n: number): number => Math.floor(rand() * n)
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T

let cluster: TestCluster
let agents: [Agent, Agent]
/** The `tests` rows acknowledged writes produced: id → text. */
const model = new Map<number, string>()
const counts = { requests: 0, byStatus: new Map<number, number>() }

interface Answer {
  status: number
  body: string
}

async function send(
  url: string,
  method: string,
  path: string,
  body: string | undefined,
  token: string | null,
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token !== null) headers['authorization'] = `Bearer ${token}`
  const res = await fetch(`${url}${path}`, {
    method,
    headers,
    ...(body !== undefined && method !== 'GET' ? { body } : {}),
    signal: AbortSignal.timeout(60_000),
  })
  counts.requests++
  counts.byStatus.set(res.status, (counts.byStatus.get(res.status) ?? 0) + 1)
  if (res.status === 200 && /^\/v1\/(subscriptions|updates)/.test(path)) {
    await res.body?.cancel() // a live stream: its headers are the answer
    return { status: 200, body: '' }
  }
  return { status: res.status, body: await res.text() }
}

/** A hostile request's answer: a refusal with a message, never an internal failure. */
function expectRefusal(a: Answer, what: string, allowOk = false): void {
  const detail = `${what} → ${a.status} ${a.body.slice(0, 300)}`
  if (allowOk && a.status === 200) return
  if (a.status === 401) return // Corrosion answers 401 with an empty body
  if (a.status >= 500) {
    // Corrosion answers 500 for a statement SQLite refuses; anything else is a failure of ours.
    expect(a.status, detail).toBe(500)
    expect(a.body, detail).toMatch(/"code":"PATINA_ERR_SQL"/)
    return
  }
  expect(a.status, detail).toBeGreaterThanOrEqual(400)
  expect(a.body.length, `${detail}: no message`).toBeGreaterThan(3)
}

const TEMPLATES = [
  '["INSERT INTO routes (host, app, backend) VALUES (?, ?, ?)", ["h.example", "a", "b"]]',
  '{"query": "UPDATE routes SET weight = ? WHERE host = ?", "params": [2, "h.example"]}',
  '["SELECT * FROM routes WHERE host = :h", {":h": "h.example"}]',
  '"SELECT id, text FROM tests ORDER BY id"',
]

const FORBIDDEN = [
  "SELECT __patina_capture(1, 'tests', 1, 'text', 'forged')",
  "INSERT INTO tests (id, text) SELECT 999, 'x' WHERE __patina_capture(1) IS NULL",
  'SELECT "__patina_deadline"(randomblob(32), 0)',
  'SELECT * FROM __patina_meta',
  "SELECT * FROM '__patina_sites'",
  'DELETE FROM [__patina_heads]',
  'UPDATE __patina_clock_tests SET cl = 9',
  "ATTACH DATABASE '/tmp/patina-campaign-evil.db' AS evil",
  "VACUUM INTO '/tmp/patina-campaign-evil.db'",
  "SELECT load_extension('/tmp/nope.so')",
  'PRAGMA writable_schema = ON',
  'DROP TABLE tests',
  'CREATE TABLE evil (x)',
  'BEGIN',
  'SELECT 1; DELETE FROM tests',
]

/** Bodies of every hostile kind; `sql` places a statement in one of the five forms. */
function hostileBody(): { kind: string; body: string } {
  const t = pick(TEMPLATES)
  switch (int(10)) {
    case 0: // truncated: a strict prefix of a JSON text is never JSON
      return { kind: 'truncated', body: `[${t}]`.slice(0, 1 + int(t.length)) }
    case 1: {
      // mutated: bytes replaced, inserted or removed
      const b = [...`[${t}]`]
      for (let i = 0, n = 1 + int(4); i < n; i++) {
        const at = int(b.length)
        const op = int(3)
        if (op === 0) b[at] = pick(['"', '[', ']', '{', '}', ',', ':', '\\', '\u0000', 'é', '9', 'x'])
        else if (op === 1) b.splice(at, 0, pick(['"', '[', '{', '\\u', '1e999', 'null', ',']))
        else b.splice(at, 1)
      }
      return { kind: 'mutated', body: b.join('') }
    }
    case 2: {
      // deeply nested, within the body limit (parsed with a depth bound: 400)
      const d = 1000 + int(20_000)
      const inner = pick(['"SELECT 1"', '1', '{"a":1}'])
      return int(2) === 0
        ? { kind: 'deep', body: `${'['.repeat(d)}${inner}${']'.repeat(d)}` }
        : { kind: 'deep', body: `["SELECT ?", ${'['.repeat(d)}1${']'.repeat(d)}]` }
    }
    case 3: // wrongly typed
      return {
        kind: 'typed',
        body: pick([
          '{"not": "an array"}',
          '[42]',
          '[null]',
          '[true]',
          '[["SELECT ?", "not params"]]',
          '[["SELECT ?", [{"x": [1, {"y": 2}]}], 3]]',
          '[{"query": 5}]',
          '[{"query": "SELECT 1", "params": [1], "named_params": {":a": 1}}]',
          '[["SELECT ?", {"a": 1}]]',
          '[["SELECT ?", [123456789012345678901234567890]]]',
          '[["SELECT ?", [1e400]]]',
          '"SELECT 1"',
          '123',
          '""',
        ]),
      }
    case 4: // forbidden statements, in any form
      return { kind: 'forbidden', body: JSON.stringify([pick(FORBIDDEN)]) }
    case 5:
      return { kind: 'forbidden', body: JSON.stringify({ query: pick(FORBIDDEN), params: [] }) }
    case 6: // random bytes as text
      return {
        kind: 'random',
        body: Array.from({ length: int(200) }, () => String.fromCharCode(int(0x2fff))).join(''),
      }
    case 7: // a huge statement within the limit (parsing and planning stay bounded)
      return { kind: 'huge', body: JSON.stringify(`SELECT 1${'+1'.repeat(10_000 + int(15_000))}`) }
    case 8: // oversized: 413
      return { kind: 'oversized', body: JSON.stringify([`SELECT '${'y'.repeat(BODY_MAX + int(BODY_MAX))}'`]) }
    default:
      return { kind: 'empty', body: pick(['', ' ', '\n', '{', '[', 'nul']) }
  }
}

const isJson = (text: string): boolean => {
  if (text.trim() === '') return true // no body
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

const ENDPOINTS = [
  { method: 'POST', path: '/v1/transactions', write: true },
  { method: 'POST', path: '/v1/queries', write: false },
  { method: 'POST', path: '/v1/subscriptions', write: false },
  { method: 'POST', path: '/v1/table_stats', write: false },
  { method: 'POST', path: '/v1/updates/tests', write: false },
  { method: 'GET', path: '/v1/subscriptions/00000000-0000-4000-8000-00000000dead', write: false },
  { method: 'GET', path: '/v1/health', write: false },
  { method: 'GET', path: '/v1/cluster/members', write: false },
] as const

const HOSTILE_QUERY = [
  '',
  '?timeout=-1',
  '?timeout=abc',
  '?timeout=1e999',
  '?from=x',
  '?wait_version=1e30',
  '?gaps=z',
]

/** One acknowledged write on the owner of its id (even → first agent, odd → second). */
async function modelWrite(): Promise<void> {
  const id = 1 + int(40)
  const url = (agents[id % 2] as Agent).apiUrl
  if (int(4) === 0) {
    const a = await send(
      url,
      'POST',
      '/v1/transactions',
      JSON.stringify([['DELETE FROM tests WHERE id = ?', [id]]]),
      WRITE,
    )
    expect(a.status, a.body).toBe(200)
    model.delete(id)
    return
  }
  const text = `t${int(1e6)}`
  const stmt = ['INSERT OR REPLACE INTO tests (id, text) VALUES (?, ?)', [id, text]]
  const a = await send(url, 'POST', '/v1/transactions', JSON.stringify([stmt]), WRITE)
  expect(a.status, a.body).toBe(200)
  model.set(id, text)
}

/** The rows of a query, read with the read token. */
async function tableOf(url: string, sql: string): Promise<string> {
  const a = await send(url, 'POST', '/v1/queries', JSON.stringify(sql), READ)
  expect(a.status, a.body).toBe(200)
  const rows = a.body
    .split('\n')
    .filter((l) => l.startsWith('{"row"'))
    .map((l) => (JSON.parse(l) as { row: [number, unknown[]] }).row[1])
  return JSON.stringify(rows)
}

async function converged(): Promise<void> {
  const want = JSON.stringify(
    [...model.entries()].sort((a, b) => a[0] - b[0]).map(([id, text]) => [id, text]),
  )
  for (const a of agents) {
    // every node answers health (bounded by the request's own timeout)
    const h = await fetch(`${a.apiUrl}/v1/health`, {
      headers: { authorization: `Bearer ${READ}` },
      signal: AbortSignal.timeout(5_000),
    })
    expect(h.status).toBe(200)
    await waitFor(
      `${a.apiUrl} to hold exactly the acknowledged rows`,
      async () =>
        (await tableOf(a.apiUrl, 'SELECT id, text FROM tests ORDER BY id')) === want ? true : undefined,
      60_000,
    )
  }
  const routes = 'SELECT host, app, backend, weight FROM routes ORDER BY host'
  await waitFor(
    'routes to converge',
    async () =>
      (await tableOf(agents[0].apiUrl, routes)) === (await tableOf(agents[1].apiUrl, routes))
        ? true
        : undefined,
    60_000,
  )
}

beforeAll(async () => {
  cluster = await startCluster(2, {
    overrides: [
      {
        key: 'api.authorization.tokens',
        value: [
          { token: READ, role: 'read' },
          { token: WRITE, role: 'write' },
        ],
      },
      { key: 'api.limits.body_max_bytes', value: BODY_MAX },
      { key: 'api.limits.header_timeout_ms', value: 1_000 },
      { key: 'api.limits.body_timeout_ms', value: 1_000 },
      { key: 'api.limits.idle_timeout_ms', value: 5_000 },
      { key: 'api.limits.connections_per_address_max', value: CONN_MAX },
      { key: 'api.limits.query_timeout_secs', value: 2 },
      { key: 'api.limits.timeout_max_secs', value: 3 },
      { key: 'api.limits.main_thread_max_ms', value: 300 },
    ],
  })
  agents = cluster.agents as [Agent, Agent]
  await waitFor(
    'the two agents to see each other',
    () =>
      agents.every((a) => a.cluster.members().some((m) => !m.self && m.state === 'alive')) ? true : undefined,
    60_000,
  )
}, 180_000)

afterAll(async () => {
  await cluster?.stop()
  console.log(
    `campaign seed ${SEED}: ${counts.requests} requests, by status ${JSON.stringify([...counts.byStatus].sort())}`,
  )
})

describe(`hostile-input campaign (seed ${SEED})`, () => {
  it('every endpoint, every token kind, hostile bodies: refused with a 4xx; the acknowledged writes hold', async () => {
    for (let i = 0; i < REQUESTS; i++) {
      if (i % 8 === 0) await modelWrite()
      const ep = pick(ENDPOINTS)
      const url = pick(agents).apiUrl
      const token = pick([null, 'wrong-token-xx', READ, WRITE])
      const q = pick(HOSTILE_QUERY)
      const { kind, body } = hostileBody()
      const what = `#${i} ${ep.method} ${ep.path}${q} token=${String(token)} ${kind} ${JSON.stringify(body.slice(0, 120))}`
      const a = await send(url, ep.method, `${ep.path}${q}`, body, token)
      if (token === null || token === 'wrong-token-xx') {
        expect(a.status, what).toBe(401)
        continue
      }
      if (ep.write && token === READ) {
        // 403, unless the body itself is refused first (unparsable 400, too large 413)
        if (kind !== 'deep' && kind !== 'oversized' && isJson(body)) expect(a.status, what).toBe(403)
        else expect([400, 403, 413], what).toContain(a.status)
        continue
      }
      // Some bodies are questions with an answer (health, members, table stats, a valid read).
      const harmless =
        ep.method === 'GET' && ep.path !== '/v1/health'
          ? ep.path === '/v1/cluster/members'
          : ep.path === '/v1/health' || ep.path === '/v1/updates/tests' || ep.path === '/v1/table_stats'
      if (kind === 'oversized' && ep.method === 'POST') expect(a.status, what).toBe(413)
      if (kind === 'deep' && ep.method === 'POST' && ep.path !== '/v1/updates/tests')
        expect(a.status, what).toBe(400)
      // A mutated, random, huge or wrongly typed body may still be a valid question (`"SELECT 1"`);
      // forbidden, deep, truncated and empty ones never are.
      const mayBeValid = ['mutated', 'huge', 'random', 'typed'].includes(kind)
      if (kind === 'forbidden' && !harmless) expectRefusal(a, what)
      else expectRefusal(a, what, harmless || mayBeValid)
    }
    await converged()
  })

  it('runaway statements with and without timeout are stopped at their deadline (408) on every endpoint', async () => {
    const [a0] = agents
    const cases: [string, string][] = [
      ['/v1/queries?timeout=1', JSON.stringify(RUNAWAY)],
      ['/v1/queries', JSON.stringify(RUNAWAY)], // api.limits.query_timeout_secs
      ['/v1/queries?timeout=3600', JSON.stringify(RUNAWAY)], // cut to api.limits.timeout_max_secs
      ['/v1/transactions?timeout=1', JSON.stringify([RUNAWAY])],
      ['/v1/transactions', JSON.stringify([RUNAWAY])], // api.limits.main_thread_max_ms
      [
        '/v1/transactions',
        JSON.stringify([
          `${RUNAWAY.replace('SELECT count(*) FROM c', "INSERT INTO tests (id, text) SELECT x + 1000, 'r' FROM c WHERE x < 0")}`,
        ]),
      ],
      ['/v1/subscriptions', JSON.stringify(`SELECT id FROM tests WHERE id < (${RUNAWAY})`)],
    ]
    // a row for the subscription's condition to run on
    const anchor = await send(
      a0.apiUrl,
      'POST',
      '/v1/transactions',
      JSON.stringify([['INSERT OR REPLACE INTO tests (id, text) VALUES (?, ?)', [100, 'anchor']]]),
      WRITE,
    )
    expect(anchor.status, anchor.body).toBe(200)
    model.set(100, 'anchor')
    for (const [path, body] of cases) {
      // health answers while it runs (queries run on read threads; the agents of this test
      // share one process, so a transaction holds both for at most main_thread_max_ms), and after
      const run = send(a0.apiUrl, 'POST', path, body, WRITE)
      expect((await send(agents[1].apiUrl, 'GET', '/v1/health', undefined, READ)).status).toBe(200)
      const a = await run
      expect(a.status, `${path} ${a.body}`).toBe(408)
      expect(a.body, path).toMatch(/stopped at its deadline of \d+ ms/)
      expect((await send(a0.apiUrl, 'GET', '/v1/health', undefined, READ)).status).toBe(200)
    }
    await modelWrite()
    await converged()
  })

  it('connection abuse: slow headers and bodies are cut, the per-address cap holds, garbage to the gossip port is ignored', async () => {
    const port = Number(new URL(agents[0].apiUrl).port)
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => resolve(s))
        s.on('error', reject)
      })
    const closed = (s: Socket): Promise<void> =>
      new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())))

    // slowloris: headers, then bodies, a byte every 200 ms; the server closes them all
    const slow: Socket[] = []
    const timers: NodeJS.Timeout[] = []
    for (let i = 0; i < 20; i++) {
      const s = await open()
      s.on('error', () => undefined)
      s.on('data', () => undefined)
      // even: headers fed slowly; odd: headers at once, then the body fed slowly
      let text = `POST /v1/queries HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${READ}\r\nX-Slow: ${'a'.repeat(200)}`
      if (i % 2 === 1) {
        s.write(
          `POST /v1/queries HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${READ}\r\nContent-Length: 500\r\n\r\n`,
        )
        text = `"SELECT 1${' '.repeat(400)}`
      }
      let at = 0
      timers.push(
        setInterval(() => {
          if (!s.destroyed && at < text.length) s.write(text[at++] as string)
        }, 200),
      )
      slow.push(s)
    }
    await Promise.race([
      Promise.all(slow.map(closed)),
      new Promise((_, rej) =>
        setTimeout(() => rej(new Error('slow connections still open after 30 s')), 30_000),
      ),
    ])
    for (const t of timers) clearInterval(t)

    // the per-address cap: idle connections beyond it get 503 PATINA_ERR_CONNECTION_LIMIT and close
    const held: Socket[] = []
    for (let i = 0; i < CONN_MAX + 8; i++) held.push(await open())
    const answers = await Promise.all(
      held.map(
        (s) =>
          new Promise<string>((resolve) => {
            let buf = ''
            s.on('data', (d: Buffer) => {
              buf += d.toString()
              if (buf.includes('\r\n')) resolve(buf.split('\r\n')[0] as string)
            })
            s.on('error', () => resolve(buf || 'error'))
            s.on('close', () => resolve(buf.split('\r\n')[0] || 'closed'))
            s.write(`GET /v1/health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${READ}\r\n\r\n`)
          }),
      ),
    )
    expect(answers.filter((a) => / 503 /.test(a)).length, JSON.stringify(answers)).toBeGreaterThan(0)
    expect(
      answers.every((a) => / (200|503) /.test(a)),
      JSON.stringify(answers),
    ).toBe(true)
    for (const s of held) s.destroy()

    // garbage to the gossip port: random bytes, a half-sent frame, many short connections
    const gossip = agents[0].cluster.members().find((m) => m.self)?.gossip_addrs[0] ?? ''
    const gport = Number(/\/tcp\/(\d+)/.exec(gossip)?.[1])
    expect(gport).toBeGreaterThan(0)
    for (let i = 0; i < 30; i++) {
      await new Promise<void>((resolve) => {
        const s = connect(gport, '127.0.0.1', () => {
          s.write(Buffer.from(Array.from({ length: 1 + int(4096) }, () => int(256))))
          setTimeout(() => s.destroy(), int(50))
        })
        s.on('error', () => resolve())
        s.on('close', () => resolve())
      })
    }
    await waitFor('the connections to drain', async () => {
      const r = await fetch(`${agents[0].apiUrl}/v1/health`, { headers: { authorization: `Bearer ${READ}` } })
      return r.status === 200 ? true : undefined
    })
    await modelWrite()
    await modelWrite()
    await converged()
  })
})
