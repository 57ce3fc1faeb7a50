/**
 * Real `patina agent` and `patina edge` child processes for the fault campaigns. Unlike
 * `test/helpers/process.ts`, a chaos worker gossips through the partition proxy
 * (`gossip.external_addr` is its proxy; it bootstraps from the other proxies) and runs with
 * the clock-skew preload.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CLI, ROOT } from '../../helpers/process.js'

const SKEW = fileURLToPath(new URL('./skew.mjs', import.meta.url))

export interface ChaosWorkerSpec {
  name: string
  home: string
  schemaPath: string
  apiPort: number
  gossipPort: number
  proxyPort: number
  bootstrap: string[]
  extraToml?: string
}

/** Keeps the last `max` lines of a child's output for failure reports. */
class Tail {
  private lines: string[] = []
  constructor(private readonly max = 200) {}
  push(chunk: string): void {
    this.lines.push(...chunk.split('\n').filter((l) => l.length > 0))
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max)
  }
  text(): string {
    return this.lines.join('\n')
  }
}

abstract class Child {
  child: ChildProcess | undefined
  readonly tail = new Tail()
  exited: Promise<void> = Promise.resolve()
  get pid(): number | undefined {
    return this.child?.pid
  }
  get alive(): boolean {
    const c = this.child
    return c !== undefined && c.exitCode === null && c.signalCode === null
  }
  protected spawnChild(args: string[], env: NodeJS.ProcessEnv): void {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env })
    this.child = child
    child.stdout?.on('data', (d: Buffer) => this.tail.push(d.toString()))
    child.stderr?.on('data', (d: Buffer) => this.tail.push(d.toString()))
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
  }
  /** Signal our own child (never anything else); waits for the exit on SIGKILL/SIGTERM. */
  async signal(sig: NodeJS.Signals): Promise<void> {
    const c = this.child
    if (c === undefined || !this.alive) return
    c.kill(sig)
    if (sig === 'SIGKILL' || sig === 'SIGTERM') await this.exited
  }
  async stop(): Promise<void> {
    if (!this.alive) return
    this.child?.kill('SIGCONT')
    this.child?.kill('SIGTERM')
    const t = setTimeout(() => this.child?.kill('SIGKILL'), 15_000)
    await this.exited
    clearTimeout(t)
  }
}

export class ChaosWorker extends Child {
  readonly skewFile: string
  /** Called with the new pid right after every spawn (the partition net needs it early). */
  onSpawn: (pid: number | undefined) => void = () => undefined
  constructor(readonly spec: ChaosWorkerSpec) {
    super()
    mkdirSync(spec.home, { recursive: true })
    this.skewFile = join(spec.home, 'skew')
    writeFileSync(this.skewFile, '0')
    writeFileSync(
      this.configPath,
      [
        '[db]',
        `path = "${join(spec.home, 'state.db')}"`,
        `schema_paths = ["${spec.schemaPath}"]`,
        '[gossip]',
        `addr = "127.0.0.1:${spec.gossipPort}"`,
        `external_addr = "127.0.0.1:${spec.proxyPort}"`,
        `bootstrap = ${JSON.stringify(spec.bootstrap)}`,
        'sync_interval_min_ms = 200',
        'sync_interval_max_ms = 2000',
        'probe_interval_ms = 300',
        'probe_timeout_ms = 600',
        '[api]',
        `addr = "127.0.0.1:${spec.apiPort}"`,
        '[admin]',
        `path = "${this.adminPath}"`,
        '[log]',
        'level = "warn"',
        spec.extraToml ?? '',
      ].join('\n'),
    )
  }
  get name(): string {
    return this.spec.name
  }
  get configPath(): string {
    return join(this.spec.home, 'config.toml')
  }
  get adminPath(): string {
    return join(this.spec.home, 'admin.sock')
  }
  get apiUrl(): string {
    return `http://127.0.0.1:${this.spec.apiPort}`
  }

  /** Spawn the agent and wait (bounded) until its API answers. */
  async start(timeoutMs = 120_000): Promise<void> {
    this.spawnChild(['--import', SKEW, ...CLI, '-c', this.configPath, 'agent'], {
      ...process.env,
      PATINA_CHAOS_SKEW_FILE: this.skewFile,
    })
    this.onSpawn(this.pid)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (!this.alive) throw new Error(`${this.name} exited during start:\n${this.tail.text()}`)
      try {
        const r = await fetch(`${this.apiUrl}/v1/cluster/members`, { signal: AbortSignal.timeout(5000) })
        if (r.status === 200) return
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`${this.name} did not answer within ${timeoutMs} ms:\n${this.tail.text()}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  /** Jump this worker's wall clock to `offsetMs` from the real time (see skew.mjs). */
  async skew(offsetMs: number): Promise<void> {
    writeFileSync(this.skewFile, String(Math.round(offsetMs)))
    await this.signal('SIGUSR2')
  }

  /** One admin-socket request (`{"cmd": ...}`), answered with its result. */
  admin(cmd: Record<string, unknown>, timeoutMs = 10_000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const s = createConnection(this.adminPath)
      let buf = ''
      const timer = setTimeout(() => {
        s.destroy()
        reject(new Error(`admin ${JSON.stringify(cmd)} on ${this.name}: no answer in ${timeoutMs} ms`))
      }, timeoutMs)
      s.on('error', (e) => {
        clearTimeout(timer)
        reject(e)
      })
      s.on('connect', () => s.write(`${JSON.stringify(cmd)}\n`))
      s.on('data', (d: Buffer) => {
        buf += d.toString()
        const nl = buf.indexOf('\n')
        if (nl < 0) return
        clearTimeout(timer)
        s.end()
        const res = JSON.parse(buf.slice(0, nl)) as {
          ok: boolean
          result?: unknown
          error?: { message: string }
        }
        if (res.ok) resolve(res.result)
        else reject(new Error(res.error?.message ?? 'admin error'))
      })
    })
  }
}

export interface ChaosEdgeSpec {
  name: string
  home: string
  port: number
  workers: string[]
  query: string
  key: string[]
}

export class ChaosEdge extends Child {
  constructor(readonly spec: ChaosEdgeSpec) {
    super()
    mkdirSync(spec.home, { recursive: true })
    writeFileSync(
      this.configPath,
      [
        `workers = ${JSON.stringify(spec.workers)}`,
        `listen = "127.0.0.1:${spec.port}"`,
        'stale_after_ms = 5000',
        'probe_interval_ms = 500',
        'probe_timeout_ms = 2000',
        'connect_timeout_ms = 5000',
        '[[queries]]',
        'name = "kv"',
        `sql = ${JSON.stringify(spec.query)}`,
        `key = ${JSON.stringify(spec.key)}`,
      ].join('\n'),
    )
  }
  get name(): string {
    return this.spec.name
  }
  get configPath(): string {
    return join(this.spec.home, 'edge.toml')
  }
  get url(): string {
    return `http://127.0.0.1:${this.spec.port}`
  }
  async start(timeoutMs = 120_000): Promise<void> {
    this.spawnChild([...CLI, '-c', this.configPath, 'edge'], process.env)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (!this.alive) throw new Error(`${this.name} exited during start:\n${this.tail.text()}`)
      try {
        const r = await fetch(`${this.url}/v1/health`, { signal: AbortSignal.timeout(5000) })
        if (r.status === 200 || r.status === 503) return
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`${this.name} did not answer within ${timeoutMs} ms:\n${this.tail.text()}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  /** The edge's in-memory view: rows as objects. */
  async view(): Promise<{ rows: Record<string, unknown>[]; synced: boolean; stale: boolean }> {
    const r = await fetch(`${this.url}/v1/views/kv`, { signal: AbortSignal.timeout(10_000) })
    if (r.status !== 200) throw new Error(`${this.name} view: ${r.status} ${await r.text()}`)
    return (await r.json()) as { rows: Record<string, unknown>[]; synced: boolean; stale: boolean }
  }
}
