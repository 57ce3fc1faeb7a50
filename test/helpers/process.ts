import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TEST_SCHEMA } from './schema.js'
import { waitFor } from './wait.js'

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

/**
 * A child process this test started: its output (the last `maxOutputChars`), a bounded wait until
 * it answers over HTTP, and signals to it alone. Base of every launcher (`WorkerProcess` here,
 * the chaos worker and edge in `test/chaos/lib/procs.ts`).
 */
export abstract class OwnChild {
  child: ChildProcess | undefined
  /** stdout and stderr chunks, in arrival order. */
  readonly output: string[] = []
  exited: Promise<number | null> = Promise.resolve(null)
  constructor(
    readonly name: string,
    private readonly maxOutputChars = Infinity,
  ) {}
  get pid(): number | undefined {
    return this.child?.pid
  }
  get alive(): boolean {
    const c = this.child
    return c !== undefined && c.exitCode === null && c.signalCode === null
  }
  /** The output kept, as one text. */
  outputText(): string {
    return this.output.join('')
  }

  protected spawnChild(command: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): void {
    const [cmd, ...args] = command
    const child = spawn(cmd as string, args, {
      cwd: opts.cwd ?? ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.env ? { env: opts.env } : {}),
    })
    this.child = child
    let kept = 0
    const keep = (d: Buffer): void => {
      const text = d.toString()
      this.output.push(text)
      kept += text.length
      while (kept > this.maxOutputChars && this.output.length > 1)
        kept -= (this.output.shift() as string).length
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  }

  /** Waits (bounded) until `url` answers with a status `ok` accepts; fails at once if the child exits. */
  protected async untilAnswering(
    url: string,
    ok: (status: number) => boolean,
    timeoutMs: number,
    intervalMs: number,
  ): Promise<void> {
    await waitFor(
      `${this.name} to answer ${url}`,
      async () => ok((await fetch(url, { signal: AbortSignal.timeout(5000) })).status),
      {
        timeoutMs,
        intervalMs,
        stopIf: () =>
          this.alive ? undefined : `${this.name} exited with ${this.child?.exitCode}:\n${this.outputText()}`,
      },
    ).catch((err: Error) => {
      throw this.alive ? new Error(`${err.message}\n${this.outputText()}`) : err
    })
  }

  /** Sends `sig` to this process (only the one we started); waits for the exit on SIGKILL/SIGTERM/SIGINT. */
  async signal(sig: NodeJS.Signals): Promise<void> {
    const c = this.child
    if (c === undefined || !this.alive) return
    c.kill(sig)
    if (sig === 'SIGKILL' || sig === 'SIGTERM' || sig === 'SIGINT') await this.exited
  }

  /** SIGTERM (after SIGCONT, in case it is paused), SIGKILL after `graceMs`; waits for the exit. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.alive) return
    this.child?.kill('SIGCONT')
    this.child?.kill('SIGTERM')
    const t = setTimeout(() => this.child?.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(t)
  }
}

/** What differs between the agent configs of the test launchers. */
export interface AgentTomlSpec {
  home: string
  schemaPath: string
  gossipPort: number
  apiPort: number
  bootstrap: string[]
  /** The address the others dial (a partition proxy in the chaos tests). */
  externalPort?: number
  syncMaxMs?: number
  probeIntervalMs: number
  probeTimeoutMs: number
  extraToml?: string
}

/** An agent config for tests: everything on 127.0.0.1, state and admin socket in `home`. */
export function agentToml(s: AgentTomlSpec): string {
  return [
    '[db]',
    `path = "${join(s.home, 'state.db')}"`,
    `schema_paths = ["${s.schemaPath}"]`,
    '[gossip]',
    `addr = "127.0.0.1:${s.gossipPort}"`,
    ...(s.externalPort !== undefined ? [`external_addr = "127.0.0.1:${s.externalPort}"`] : []),
    `bootstrap = ${JSON.stringify(s.bootstrap)}`,
    'sync_interval_min_ms = 200',
    `sync_interval_max_ms = ${s.syncMaxMs ?? 1000}`,
    `probe_interval_ms = ${s.probeIntervalMs}`,
    `probe_timeout_ms = ${s.probeTimeoutMs}`,
    '[api]',
    `addr = "127.0.0.1:${s.apiPort}"`,
    '[admin]',
    `path = "${join(s.home, 'admin.sock')}"`,
    '[log]',
    'level = "warn"',
    s.extraToml ?? '',
  ].join('\n')
}

/** A `patina agent` child process; its config lives in `<dir>/<name>/config.toml`. */
export class WorkerProcess extends OwnChild {
  constructor(readonly spec: WorkerSpec) {
    super(spec.name)
    const home = join(spec.dir, spec.name)
    mkdirSync(home, { recursive: true })
    writeFileSync(
      this.configPath,
      agentToml({
        ...spec,
        home,
        probeIntervalMs: spec.probeIntervalMs ?? 200,
        probeTimeoutMs: spec.probeTimeoutMs ?? 150,
      }),
    )
  }

  get configPath(): string {
    return join(this.spec.dir, this.spec.name, 'config.toml')
  }
  get apiUrl(): string {
    return `http://127.0.0.1:${this.spec.apiPort}`
  }

  /** Spawn the agent and wait until its API answers. */
  async start(timeoutMs = 60_000): Promise<void> {
    this.spawnChild([...(this.spec.command ?? [process.execPath, ...CLI]), '-c', this.configPath, 'agent'], {
      cwd: this.spec.cwd ?? ROOT,
    })
    await this.untilAnswering(`${this.apiUrl}/v1/cluster/members`, (s) => s === 200, timeoutMs, 100)
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
