/**
 * Real `patina agent` and `patina edge` child processes for the fault campaigns, on the launcher
 * of `test/helpers/process.ts` (`OwnChild`, `agentToml`). Unlike a `WorkerProcess`, a chaos worker gossips through the partition proxy
 * (`gossip.external_addr` is its proxy; it bootstraps from the other proxies) and runs with
 * the clock-skew preload.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { agentToml, CLI, OwnChild } from '../../helpers/process.js'

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

/** Failure reports keep the last ~200 lines of a child's output. */
const KEEP_CHARS = 40_000

export class ChaosWorker extends OwnChild {
  readonly skewFile: string
  /** Called with the new pid right after every spawn (the partition net needs it early). */
  onSpawn: (pid: number | undefined) => void = () => undefined
  constructor(readonly spec: ChaosWorkerSpec) {
    super(spec.name, KEEP_CHARS)
    mkdirSync(spec.home, { recursive: true })
    this.skewFile = join(spec.home, 'skew')
    writeFileSync(this.skewFile, '0')
    writeFileSync(
      this.configPath,
      agentToml({
        ...spec,
        externalPort: spec.proxyPort,
        syncMaxMs: 2000,
        probeIntervalMs: 300,
        probeTimeoutMs: 600,
      }),
    )
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
    this.spawnChild([process.execPath, '--import', SKEW, ...CLI, '-c', this.configPath, 'agent'], {
      env: { ...process.env, PATINA_CHAOS_SKEW_FILE: this.skewFile },
    })
    this.onSpawn(this.pid)
    await this.untilAnswering(`${this.apiUrl}/v1/cluster/members`, (s) => s === 200, timeoutMs, 200)
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

export class ChaosEdge extends OwnChild {
  constructor(readonly spec: ChaosEdgeSpec) {
    super(spec.name, KEEP_CHARS)
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
  get configPath(): string {
    return join(this.spec.home, 'edge.toml')
  }
  get url(): string {
    return `http://127.0.0.1:${this.spec.port}`
  }
  async start(timeoutMs = 120_000): Promise<void> {
    this.spawnChild([process.execPath, ...CLI, '-c', this.configPath, 'edge'])
    await this.untilAnswering(`${this.url}/v1/health`, (s) => s === 200 || s === 503, timeoutMs, 200)
  }
  /** The edge's in-memory view: rows as objects. */
  async view(): Promise<{ rows: Record<string, unknown>[]; synced: boolean; stale: boolean }> {
    const r = await fetch(`${this.url}/v1/views/kv`, { signal: AbortSignal.timeout(10_000) })
    if (r.status !== 200) throw new Error(`${this.name} view: ${r.status} ${await r.text()}`)
    return (await r.json()) as { rows: Record<string, unknown>[]; synced: boolean; stale: boolean }
  }
}
