/**
 * Shared pieces of the container tests: the suite lifecycle (`dockerSuite`), the docker CLI with a
 * deadline, the image build, label-based cleanup, and HTTP helpers with timeouts (a disconnected container's IP would
 * otherwise hang a request for minutes).
 */
import { execFile } from 'node:child_process'
import { afterAll, beforeAll } from 'vitest'
import { GenericContainer, Wait } from 'testcontainers'
import { fileURLToPath } from 'node:url'

// Ryuk's image cannot be pulled here (no registry); the tests remove what they start themselves.
process.env['TESTCONTAINERS_RYUK_DISABLED'] ??= 'true'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** The image every container test runs (built by `prepareImageRun`). */
export const IMAGE = 'patina:test'
/** Worker environment: faster failure detection and sync than the LAN defaults, so that the tier stays short. */
export const TUNING = {
  PATINA_GOSSIP__PROBE_INTERVAL_MS: '500',
  PATINA_GOSSIP__PROBE_TIMEOUT_MS: '400',
  PATINA_GOSSIP__SYNC_INTERVAL_MIN_MS: '500',
  PATINA_GOSSIP__SYNC_INTERVAL_MAX_MS: '3000',
  PATINA_LOG__LEVEL: 'info',
}
/**
 * A worker container of `IMAGE` on `net` (not started): named `name`, gossiping with the other
 * `workers` by name, `TUNING` timings, ready once the agent logs that it runs.
 */
export function workerContainer(
  name: string,
  workers: readonly string[],
  net: string,
  labels: Record<string, string>,
): GenericContainer {
  return (
    new GenericContainer(IMAGE)
      .withName(name)
      .withNetworkMode(net)
      .withLabels(labels)
      .withEnvironment({
        ...TUNING,
        PATINA_GOSSIP__EXTERNAL_ADDR: `${name}:8787`,
        PATINA_GOSSIP__BOOTSTRAP: workers
          .filter((w) => w !== name)
          .map((w) => `${w}:8787`)
          .join(','),
      })
      // The image has no /bin/sh: the default wait strategy would hang.
      .withWaitStrategy(Wait.forLogMessage('"msg":"agent running"'))
      .withStartupTimeout(60_000)
  )
}

/** Label put on every container and network the docker tests create. */
export const TEST_LABEL = 'patina.test'

export interface RunResult {
  stdout: string
  stderr: string
}

/** Runs a command; rejects with its output when it fails or outlives `timeoutMs`. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      [...args],
      {
        cwd: opts.cwd ?? ROOT,
        env: opts.env ?? process.env,
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) {
          const why = err.killed ? `killed after ${timeoutMs} ms` : `exit ${String(err.code)}`
          reject(
            new Error(
              `${cmd} ${args.join(' ')} failed (${why})\nstdout: ${stdout.slice(-4000)}\nstderr: ${stderr.slice(-4000)}`,
            ),
          )
        } else resolve({ stdout, stderr })
      },
    )
  })
}

export async function docker(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return (await run('docker', args, { timeoutMs })).stdout.trim()
}

/** Fails (does not skip) with what to do when no Docker daemon answers. */
export async function requireDocker(): Promise<void> {
  try {
    await docker(['info', '--format', '{{.ServerVersion}}'], 30_000)
  } catch (err) {
    throw new Error(
      `Docker is required for the container tests and does not answer; run "bash scripts/setup.sh --docker". ${String(err)}`,
    )
  }
}

/** Builds the image with the same script docs/docker.md shows; returns the tag. */
export async function buildImage(tag: string): Promise<string> {
  const { stdout } = await run('bash', ['deploy/build-image.sh', tag], { timeoutMs: 600_000 })
  const last = stdout.trim().split('\n').pop()
  if (last !== tag) throw new Error(`deploy/build-image.sh printed ${JSON.stringify(last)}, not ${tag}`)
  return tag
}

export interface DockerSuite {
  /** Call first in every test: rethrows a failed setup, so the test fails instead of skipping. */
  ready(): void
  /** Whether the setup failed (teardown then tolerates what it could not remove). */
  readonly failed: boolean
}

/**
 * The lifecycle of a container test file: `beforeAll` checks that Docker answers and runs
 * `setup`; a failed setup (no Docker, the image does not build, a worker does not start) is
 * kept and rethrown by `ready()` in every test; `afterAll` runs `teardown`.
 */
export function dockerSuite(o: {
  setup: () => Promise<void>
  teardown: (suite: DockerSuite) => Promise<void>
  setupTimeoutMs?: number
  teardownTimeoutMs?: number
}): DockerSuite {
  let setupError: unknown
  const suite: DockerSuite = {
    ready() {
      if (setupError !== undefined) throw setupError
    },
    get failed() {
      return setupError !== undefined
    },
  }
  beforeAll(async () => {
    try {
      await requireDocker()
      await o.setup()
    } catch (err) {
      setupError = err
    }
  }, o.setupTimeoutMs ?? 900_000)
  afterAll(() => o.teardown(suite), o.teardownTimeoutMs ?? 120_000)
  return suite
}

/** A fresh run of the Patina image: stale runs removed, `image` built, a network `net` labelled `run`. */
export async function prepareImageRun(image: string, net: string, run: string): Promise<void> {
  await removeStaleRuns(TEST_LABEL)
  await buildImage(image)
  await docker(['network', 'create', '--label', `${TEST_LABEL}=${run}`, net])
}

/** Removes every container (with its anonymous volumes) and network labelled `label=value`. */
export async function removeLabelled(label: string, value: string): Promise<void> {
  const filter = `label=${label}=${value}`
  const ids = (await docker(['ps', '-aq', '--filter', filter])).split('\n').filter(Boolean)
  if (ids.length > 0) await docker(['rm', '-f', '-v', ...ids])
  const nets = (await docker(['network', 'ls', '-q', '--filter', filter])).split('\n').filter(Boolean)
  for (const n of nets) await docker(['network', 'rm', n]).catch(() => undefined)
  const vols = (await docker(['volume', 'ls', '-q', '--filter', filter])).split('\n').filter(Boolean)
  if (vols.length > 0) await docker(['volume', 'rm', '-f', ...vols]).catch(() => undefined)
}

/**
 * Removes what earlier runs left when their test process died before its afterAll (killed
 * by a timeout): label values start with the pid of the process that made them.
 */
export async function removeStaleRuns(label: string): Promise<void> {
  const values = new Set<string>()
  for (const kind of [
    ['ps', '-a'],
    ['network', 'ls'],
  ]) {
    const out = await docker([...kind, '--filter', `label=${label}`, '--format', `{{.Label "${label}"}}`])
    for (const v of out.split('\n')) if (v) values.add(v)
  }
  for (const v of values) {
    const pid = Number(v.split('-')[0])
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) await removeLabelled(label, v)
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The container's IPv4 address on `network`, or null when it is not attached (or not running). */
export async function ipOn(container: string, network: string): Promise<string | null> {
  const out = await docker([
    'inspect',
    '-f',
    `{{with index .NetworkSettings.Networks "${network}"}}{{.IPAddress}}{{end}}`,
    container,
  ])
  return out === '' ? null : out
}

export { sleep, waitFor } from '../helpers/wait.js'

async function request(url: string, init: RequestInit = {}, timeoutMs = 5_000): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
}

/** `POST /v1/transactions`; throws unless the worker answers 200. */
export async function execSql(base: string, statements: unknown[]): Promise<void> {
  const res = await request(`${base}/v1/transactions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(statements),
  })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`transaction on ${base} failed ${res.status}: ${text}`)
}

/** `POST /v1/queries`; the rows' values. */
export async function queryRows(base: string, sql: string): Promise<unknown[][]> {
  const res = await request(`${base}/v1/queries`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(sql),
  })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`query on ${base} failed ${res.status}: ${text}`)
  return parseRows(text)
}

/** Rows of an NDJSON query answer (`{"row":[id,[...]]}` lines); throws on an `error` line. */
export function parseRows(ndjson: string): unknown[][] {
  const rows: unknown[][] = []
  for (const line of ndjson.split('\n')) {
    if (!line.trim()) continue
    const ev = JSON.parse(line) as { row?: [number, unknown[]]; error?: string }
    if (ev.error !== undefined) throw new Error(ev.error)
    if (ev.row) rows.push(ev.row[1])
  }
  return rows
}

export async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await request(url)
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body }
}
