/**
 * Hostile input on a real agent's HTTP API (over TCP, in-process agent): random and malformed
 * bodies, wrong types, huge numbers, deep JSON, invalid UTF-8, oversized bodies and header
 * lines, SQL that writes on read endpoints, SQL touching internal tables, ATTACH,
 * load_extension and pragmas. Every request is refused with a 4xx/5xx and a message, the node
 * keeps serving, and the replicated state and the database file set are unchanged.
 */
import { existsSync, readdirSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exec, queryRows, startCluster, type TestCluster } from '../helpers/cluster.js'

const RUNS = Number(process.env['PATINA_HOSTILE_RUNS'] ?? 150)
const BODY_MAX = 64 * 1024

let cluster: TestCluster
let url: string
let before: string

async function state(): Promise<string> {
  const a = cluster.agents[0]
  const rows = [
    await queryRows(url, 'SELECT id, text FROM tests ORDER BY id'),
    await queryRows(url, 'SELECT host, app, backend, weight FROM routes ORDER BY host'),
  ]
  return JSON.stringify({ rows, version: a?.engine.stats().version, files: readdirSync(cluster.dir).sort() })
}

interface Answer {
  status: number
  body: string
}

async function send(
  method: string,
  path: string,
  body?: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(30_000),
  })
  if (res.status === 200 && path.startsWith('/v1/subscriptions')) {
    // a live stream never ends: the headers are the answer
    await res.body?.cancel()
    return { status: res.status, body: '' }
  }
  return { status: res.status, body: await res.text() }
}

/** A refusal: 4xx/5xx with a message (JSON `error`, or an NDJSON `error` line, or plain text). */
function expectRefused(a: Answer, what: string): void {
  expect(a.status, `${what}: ${a.status} ${a.body.slice(0, 300)}`).toBeGreaterThanOrEqual(400)
  const first = a.body.split('\n')[0] ?? ''
  let message = first
  try {
    const j = JSON.parse(first) as { error?: unknown; results?: { error?: unknown }[] }
    message = String(j.error ?? j.results?.find((r) => r.error !== undefined)?.error ?? '')
  } catch {
    // plain text
  }
  expect(message.length, `${what}: no message in ${a.body.slice(0, 200)}`).toBeGreaterThan(3)
}

/** A statement is refused on the read endpoints: 4xx/5xx, or (queries) an NDJSON error event. */
function refusedOrErrorEvent(a: Answer): boolean {
  return a.status >= 400 || /"error"/.test(a.body)
}

async function stillServing(): Promise<void> {
  const rows = await queryRows(url, 'SELECT count(*) FROM tests')
  expect(rows.length).toBe(1)
}

beforeAll(async () => {
  cluster = await startCluster(1, { overrides: [{ key: 'api.limits.body_max_bytes', value: BODY_MAX }] })
  url = cluster.agents[0]?.apiUrl as string
  await exec(url, [
    ['INSERT INTO tests (id, text) VALUES (?, ?)', [1, 'one']],
    ['INSERT INTO tests (id, text) VALUES (?, ?)', [2, 'two']],
    ['INSERT INTO routes (host, app, backend) VALUES (?, ?, ?)', ['a.example', 'app', 'b1']],
  ])
  before = await state()
}, 120_000)

afterAll(async () => {
  await cluster?.stop()
})

const READ_PATHS = ['/v1/queries', '/v1/subscriptions'] as const

describe('hostile HTTP input', () => {
  it('random JSON and random text bodies on every endpoint are refused with a message', async () => {
    const paths = [
      ['POST', '/v1/transactions'],
      ['POST', '/v1/queries'],
      ['POST', '/v1/subscriptions'],
      ['POST', '/v1/table_stats'],
      ['POST', '/v1/updates/nope'],
    ] as const
    const body = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }),
      fc.constantFrom('', '{', '[', '[[', '["SELECT 1",', 'null', '{"query": 5}', '[{"query": null}]'),
      fc
        .array(fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.jsonValue()), { maxLength: 5 })
        .map((a) => JSON.stringify(a)),
    )
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), body, async ([method, path], b) => {
        const a = await send(method, path, b)
        if (path === '/v1/table_stats' && a.status === 200) {
          // a list of (unknown) table names is a legitimate question
          expect(JSON.parse(a.body)).toHaveProperty('total_row_count')
          return
        }
        if (a.status === 200 && path !== '/v1/transactions') {
          // a random string that happens to be a valid read statement (e.g. "SELECT 1"): fine, as long as
          // it is read-only; anything else must be refused (checked by the state comparison below)
          return
        }
        if (path === '/v1/transactions' && a.status === 200) {
          expect(JSON.parse(a.body).version, `random body wrote: ${b}`).toBeNull()
          return
        }
        expectRefused(a, `${method} ${path} ${JSON.stringify(b).slice(0, 100)}`)
      }),
      { numRuns: RUNS },
    )
    await stillServing()
    expect(await state()).toBe(before)
  })

  it('wrong types, huge numbers and bad query parameters', async () => {
    const cases: [string, string, string][] = [
      ['POST', '/v1/transactions', '{"not": "an array"}'],
      ['POST', '/v1/transactions', '[42]'],
      ['POST', '/v1/transactions', '[["INSERT INTO tests (id, text) VALUES (?, ?)", "not params"]]'],
      ['POST', '/v1/transactions', '[["INSERT INTO tests (id, text) VALUES (?, ?)", [1e400, "x"]]]'],
      [
        'POST',
        '/v1/transactions',
        '[["INSERT INTO tests (id, text) VALUES (?, ?)", [123456789012345678901234567890, "x"]]]',
      ],
      ['POST', '/v1/transactions', '[{"query": "INSERT INTO tests (id) VALUES (?)", "named_params": [1]}]'],
      ['POST', '/v1/queries', '["SELECT ?", {"bad": 1}]'],
      ['POST', '/v1/queries?timeout=-1', '"SELECT 1"'],
      ['POST', '/v1/queries?timeout=1e999', '"SELECT 1"'],
      ['POST', '/v1/queries?wait_actor=zzz&wait_version=1', '"SELECT 1"'],
      ['POST', '/v1/queries?wait_actor=00000000-0000-4000-8000-000000000009&wait_version=1e30', '"SELECT 1"'],
      [
        'POST',
        '/v1/queries?wait_actor=00000000-0000-4000-8000-000000000009&wait_version=1&wait_timeout_ms=-5',
        '"SELECT 1"',
      ],
      ['POST', '/v1/subscriptions?from=abc', '"SELECT id FROM tests"'],
      ['POST', '/v1/subscriptions?from=99999999999999999999999', '"SELECT id FROM tests"'],
      ['GET', '/v1/subscriptions/not-a-uuid?from=1', ''],
      ['GET', '/v1/health?gaps=minus', ''],
      ['POST', '/v1/table_stats', '{"tables": "tests"}'],
      ['POST', '/v1/table_stats', '{"tables": [1, 2, {"x": 1}]}'],
    ]
    for (const [method, path, body] of cases) {
      const a = await send(method, path, method === 'GET' ? undefined : body)
      expectRefused(a, `${method} ${path} ${body}`)
    }
    await stillServing()
    expect(await state()).toBe(before)
  })

  it('deep JSON, invalid UTF-8, oversized bodies and oversized header lines', async () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`
    // 200k nesting is bigger than the body limit: refused before parsing; a deep body within the limit too
    expectRefused(await send('POST', '/v1/transactions', deep), 'deep JSON over the limit')
    const deepSmall = `${'['.repeat(30_000)}"SELECT 1"${']'.repeat(30_000)}`
    expectRefused(await send('POST', '/v1/transactions', deepSmall), 'deep JSON')
    expectRefused(await send('POST', '/v1/queries', deepSmall), 'deep JSON on queries')
    const deepObj = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`
    expectRefused(await send('POST', '/v1/transactions', deepObj), 'deep object')

    const invalidUtf8 = new Uint8Array([0x5b, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x5d]) // ["\xff\xfe\xc3("]
    expectRefused(await send('POST', '/v1/transactions', invalidUtf8), 'invalid UTF-8')
    expectRefused(await send('POST', '/v1/queries', invalidUtf8), 'invalid UTF-8 on queries')
    const badStatement = new Uint8Array([
      ...new TextEncoder().encode('["INSERT INTO tests (id, text) VALUES (9, \''),
      0xff,
      0xc0,
      ...new TextEncoder().encode('\')"]'),
    ])
    const r = await send('POST', '/v1/transactions', badStatement)
    if (r.status === 200) {
      // Node decodes invalid UTF-8 as U+FFFD: a valid write of a replacement character is acceptable; undo it
      const rows = await queryRows(url, 'SELECT text FROM tests WHERE id = 9')
      expect(rows[0]?.[0]).toMatch(/\uFFFD/)
      await exec(url, [['DELETE FROM tests WHERE id = 9', []]])
      before = await state() // two more versions (the write and its undo), nothing else
    }

    const big = JSON.stringify([
      ['INSERT INTO tests (id, text) VALUES (?, ?)', [77, 'x'.repeat(BODY_MAX * 2)]],
    ])
    const a = await send('POST', '/v1/transactions', big)
    expect(a.status).toBe(413)
    expectRefused(a, 'oversized body')
    expectRefused(
      await send('POST', '/v1/queries', JSON.stringify(`SELECT '${'y'.repeat(BODY_MAX * 2)}'`)),
      'oversized query',
    )

    // a header line far beyond Node's limit: 431, and the server keeps serving
    const status = await new Promise<string>((resolve, reject) => {
      const port = new URL(url).port
      const s = connect(Number(port), '127.0.0.1', () => {
        s.write(
          `POST /v1/queries HTTP/1.1\r\nHost: x\r\nX-Big: ${'z'.repeat(200_000)}\r\nContent-Length: 10\r\n\r\n"SELECT 1"`,
        )
      })
      let buf = ''
      s.on('data', (d: Buffer) => {
        buf += d.toString()
        if (buf.includes('\r\n')) {
          resolve(buf.split('\r\n')[0] ?? '')
          s.destroy()
        }
      })
      s.on('error', (e) => (buf ? resolve(buf.split('\r\n')[0] ?? '') : reject(e)))
      s.on('close', () => resolve(buf.split('\r\n')[0] ?? 'closed'))
    })
    expect(status === 'closed' || /HTTP\/1\.1 4\d\d/.test(status), status).toBe(true)

    // an endless request line without a newline is cut off too
    const cut = await new Promise<string>((resolve) => {
      const s = connect(Number(new URL(url).port), '127.0.0.1', () => s.write(`GET /${'a'.repeat(100_000)}`))
      let buf = ''
      s.on('data', (d: Buffer) => (buf += d.toString()))
      s.on('error', () => resolve(buf || 'closed'))
      s.on('close', () => resolve(buf || 'closed'))
      setTimeout(() => {
        s.destroy()
      }, 20_000)
    })
    expect(cut === 'closed' || /HTTP\/1\.1 4\d\d/.test(cut), cut.slice(0, 100)).toBe(true)

    await stillServing()
    expect(await state()).toBe(before)
  })

  it('SQL that writes on read endpoints, internal tables, ATTACH, load_extension and pragmas', async () => {
    const attachPath = join(cluster.dir, 'evil.db')
    const writes = [
      "INSERT INTO tests (id, text) VALUES (100, 'x')",
      "UPDATE tests SET text = 'pwned'",
      'DELETE FROM tests',
      'DROP TABLE tests',
      'CREATE TABLE evil (x)',
      'CREATE TRIGGER t AFTER INSERT ON tests BEGIN DELETE FROM tests; END',
      "REPLACE INTO tests (id, text) VALUES (1, 'x')",
      "WITH x AS (SELECT 1) INSERT INTO tests (id, text) SELECT 101, 'x' FROM x",
      "INSERT INTO tests (id, text) VALUES (102, 'x') RETURNING id",
      'SELECT 1; DELETE FROM tests',
      `ATTACH DATABASE '${attachPath}' AS evil`,
      'DETACH DATABASE main',
      'VACUUM',
      `VACUUM INTO '${attachPath}'`,
      'PRAGMA writable_schema = ON',
      'PRAGMA journal_mode = DELETE',
      'PRAGMA user_version = 7',
      'PRAGMA foreign_keys = ON',
      'PRAGMA query_only = OFF',
      'PRAGMA wal_checkpoint(TRUNCATE)',
      'REINDEX',
      'ANALYZE',
      'BEGIN',
      'COMMIT',
      'ROLLBACK',
      'SAVEPOINT s',
    ]
    const internal = [
      '__patina_meta',
      '__patina_sites',
      '__patina_heads',
      '__patina_gaps',
      '__patina_partials',
      '__patina_buffered',
      '__patina_tables',
      '__patina_clock_tests',
    ]
    const internalWrites = internal.flatMap((t) => [
      `DELETE FROM ${t}`,
      `INSERT INTO ${t} DEFAULT VALUES`,
      `UPDATE ${t} SET rowid = rowid`,
      `DROP TABLE ${t}`,
    ])
    const extensions = [
      "SELECT load_extension('/tmp/nope.so')",
      "SELECT load_extension('libc.so.6', 'system')",
      "SELECT writefile('/tmp/x', 'y')",
      "SELECT readfile('/etc/passwd')",
      'SELECT * FROM sqlite_dbpage',
    ]

    // read endpoints refuse every writing statement
    for (const sql of [...writes, ...internalWrites, ...extensions]) {
      for (const path of READ_PATHS) {
        const a = await send('POST', path, JSON.stringify(sql))
        expect(refusedOrErrorEvent(a), `${path} ${sql}: ${a.status} ${a.body.slice(0, 200)}`).toBe(true)
      }
    }
    // the write endpoint refuses what would escape change capture or touch the database itself
    const escaping = [
      ...writes.filter((s) => !/^(INSERT|UPDATE|DELETE|REPLACE|WITH)/.test(s)),
      ...internalWrites,
      ...extensions,
    ]
    for (const sql of escaping) {
      const a = await send('POST', '/v1/transactions', JSON.stringify([sql]))
      expectRefused(a, `transaction ${sql}`)
    }
    // reads of internal tables: never a write, never a crash
    for (const t of internal) {
      const a = await send('POST', '/v1/queries', JSON.stringify(`SELECT * FROM ${t}`))
      expect([200, 400, 403, 500]).toContain(a.status)
    }
    expect(existsSync(attachPath)).toBe(false)
    await stillServing()
    expect(await state()).toBe(before)
  })
})
