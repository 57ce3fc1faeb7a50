import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TEST_SCHEMA } from './schema.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** Runs the `patina` CLI from TypeScript sources. */
export const CLI = [
  '--conditions=source',
  '--import',
  join(ROOT, 'scripts/polyfill.mjs'),
  '--import',
  'tsx',
  join(ROOT, 'packages/node/src/cli/main.ts'),
]

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, host, () => {
      const a = s.address()
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0))
    })
  })
}

export interface WorkerSpec {
  name: string
  dir: string
  apiPort: number
  gossipPort: number
  bootstrap: string[]
  schemaPath: string
  /** Failure-detection timings (default 200 / 150 ms: fast, for small tests on an idle machine). */
  probeIntervalMs?: number
  probeTimeoutMs?: number
  extraToml?: string
  /** The program and its first arguments (default: the `patina` CLI from sources); `-c <config> agent` follows. */
  command?: string[]
  /** Working directory of the process (default: the repository root). */
  cwd?: string
}

/** A `patina agent` child process; its config lives in `<dir>/<name>/config.toml`. */
export class WorkerProcess {
  child: ChildProcess | undefined
  readonly output: string[] = []
  exited: Promise<number | null> = Promise.resolve(null)
  constructor(readonly spec: WorkerSpec) {
    const home = join(spec.dir, spec.name)
    mkdirSync(home, { recursive: true })
    writeFileSync(
      this.configPath,
      [
        '[db]',
        `path = "${join(home, 'state.db')}"`,
        `schema_paths = ["${spec.schemaPath}"]`,
        '[gossip]',
        `addr = "127.0.0.1:${spec.gossipPort}"`,
        `bootstrap = ${JSON.stringify(spec.bootstrap)}`,
        'sync_interval_min_ms = 200',
        'sync_interval_max_ms = 1000',
        `probe_interval_ms = ${spec.probeIntervalMs ?? 200}`,
        `probe_timeout_ms = ${spec.probeTimeoutMs ?? 150}`,
        '[api]',
        `addr = "127.0.0.1:${spec.apiPort}"`,
        '[admin]',
        `path = "${join(home, 'admin.sock')}"`,
        '[log]',
        'level = "warn"',
        spec.extraToml ?? '',
      ].join('\n'),
    )
  }

  get configPath(): string {
    return join(this.spec.dir, this.spec.name, 'config.toml')
  }
  get apiUrl(): string {
    return `http://127.0.0.1:${this.spec.apiPort}`
  }
  get pid(): number | undefined {
    return this.child?.pid
  }

  /** Spawn the agent and wait until its API answers. */
  async start(timeoutMs = 60_000): Promise<void> {
    const [cmd, ...args] = this.spec.command ?? [process.execPath, ...CLI]
    const child = spawn(cmd as string, [...args, '-c', this.configPath, 'agent'], {
      cwd: this.spec.cwd ?? ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    child.stdout?.on('data', (d: Buffer) => this.output.push(d.toString()))
    child.stderr?.on('data', (d: Buffer) => this.output.push(d.toString()))
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`${this.spec.name} exited with ${child.exitCode}:\n${this.output.join('')}`)
      try {
        const r = await fetch(`${this.apiUrl}/v1/cluster/members`)
        if (r.status === 200) return
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`${this.spec.name} did not answer within ${timeoutMs} ms:\n${this.output.join('')}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** Send a signal to this process (only the one we started) and, for SIGKILL/SIGTERM, wait for it to exit. */
  async signal(sig: NodeJS.Signals): Promise<void> {
    const c = this.child
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    c.kill(sig)
    if (sig === 'SIGKILL' || sig === 'SIGTERM' || sig === 'SIGINT') await this.exited
  }
}

const picked = new Set<number>()

/**
 * A free TCP port on 127.0.0.1 below the kernel's ephemeral range (32768 and up on Linux).
 * A port from `listen(0)` comes from that range, so until the worker binds it, any outgoing
 * connection of a test running in parallel may take it (EADDRINUSE); one picked here cannot be.
 */
export async function pickPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    if (picked.has(port)) continue
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer()
      srv.once('error', () => resolve(false))
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
    })
    if (free) {
      picked.add(port)
      return port
    }
  }
  throw new Error('no free port found in 20000-31999 after 200 attempts')
}

/** What `makeWorkers` may change of each worker's spec. */
export type WorkersOptions = Partial<Pick<WorkerSpec, 'probeIntervalMs' | 'probeTimeoutMs' | 'extraToml'>> & {
  /** The schema every worker loads (default `TEST_SCHEMA`). */
  schema?: string
}

/**
 * Creates (does not start) `n` worker processes in `dir` (`w0`, `w1`, ...), each bootstrapping
 * from all the others, on ports from `pickPort`.
 */
export async function makeWorkers(
  dir: string,
  n: number,
  opts: WorkersOptions = {},
): Promise<WorkerProcess[]> {
  const { schema = TEST_SCHEMA, ...spec } = opts
  const schemaPath = join(dir, 'schema.sql')
  writeFileSync(schemaPath, schema)
  const gossip: number[] = []
  for (let i = 0; i < n; i++) gossip.push(await pickPort())
  const out: WorkerProcess[] = []
  for (let i = 0; i < n; i++)
    out.push(
      new WorkerProcess({
        name: `w${i}`,
        dir,
        apiPort: await pickPort(),
        gossipPort: gossip[i] as number,
        bootstrap: gossip.filter((_, j) => j !== i).map((p) => `127.0.0.1:${p}`),
        schemaPath,
        ...spec,
      }),
    )
  return out
}

/** Kills (SIGKILL) every worker of `workers` that runs, waits for them, then removes `dir`. */
export async function killWorkers(workers: readonly WorkerProcess[], dir?: string): Promise<void> {
  await Promise.all(workers.map((w) => w.signal('SIGKILL')))
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
}
export interface CliProcess {
  child: ChildProcess
  /** stdout and stderr chunks, in arrival order. */
  output: string[]
  exit: Promise<number | null>
}

/** Start the `patina` CLI as a child process (from the repository root). */
export function spawnCli(args: string[]): CliProcess {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const output: string[] = []
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()))
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()))
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, output, exit }
}

/** Run the `patina` CLI to completion. */
export async function runCli(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  return { code, stdout, stderr }
}
