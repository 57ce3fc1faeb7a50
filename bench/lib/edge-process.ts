/**
 * The edge as its own process, as deployed: `packages/edge/dist/cli.js` (compiled JavaScript,
 * `patina-edge -c edge.toml`), with its memory and CPU read from /proc.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../../test/helpers/process.js'
import { processCpuMs } from './cpu.js'

export const EDGE_BIN = join(ROOT, 'packages/edge/dist/cli.js')

/** Compiles the edge (and what it needs) to dist/: the bench measures the shipped JavaScript. */
export function buildEdge(): void {
  execFileSync('pnpm', ['exec', 'tsc', '-b', 'packages/edge'], { cwd: ROOT, stdio: 'inherit' })
}

export interface EdgeProcess {
  child: ChildProcess
  pid: number
  url: string
  output: string[]
  exited: Promise<number | null>
  /** Resident set size now, and its peak (VmHWM), in bytes. */
  memory(): { rss: number; peak: number }
  /** CPU time used so far (user + system), in milliseconds. */
  cpuMs(): number
  stop(sig?: NodeJS.Signals): Promise<number | null>
}

export function writeEdgeConfig(path: string, lines: string[]): void {
  writeFileSync(path, lines.join('\n') + '\n')
}

export function spawnEdge(configPath: string, port: number): EdgeProcess {
  // as the bin runs it (its shebang adds --optimize-for-size)
  const child = spawn(
    process.execPath,
    [
      '--optimize-for-size',
      EDGE_BIN,
      '-c',
      configPath,
      '--log-level',
      process.env['BENCH_EDGE_LOG_LEVEL'] ?? 'warn',
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const output: string[] = []
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()))
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const pid = child.pid as number
  const statusKb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : NaN
  }
  return {
    child,
    pid,
    url: `http://127.0.0.1:${port}`,
    output,
    exited,
    memory: () => ({ rss: statusKb('VmRSS'), peak: statusKb('VmHWM') }),
    cpuMs: () => processCpuMs(pid),
    async stop(sig = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig)
      return exited
    },
  }
}

/** The edge's JSON log lines written since `sinceMs` (wall clock), as `+ms msg {fields}` for a progress line. */
export function logSince(p: EdgeProcess, sinceMs: number): string[] {
  const out: string[] = []
  for (const line of p.output.join('').split('\n')) {
    try {
      const {
        time,
        msg,
        level,
        pid: _pid,
        hostname: _h,
        component: _c,
        ...rest
      } = JSON.parse(line) as Record<string, unknown>
      if (typeof time === 'number' && time >= sinceMs)
        out.push(`+${time - sinceMs} ms ${String(level)} ${String(msg)} ${JSON.stringify(rest)}`)
    } catch {
      // not a log line
    }
  }
  return out
}

/** GET `url` until `ok(status, body)`, every `everyMs`; resolves with the time it took (ms) and the body. */
export async function pollUntil(
  url: string,
  ok: (status: number, body: string) => boolean,
  timeoutMs: number,
  everyMs = 5,
): Promise<{ ms: number; body: string }> {
  const t0 = performance.now()
  let last = ''
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) })
      last = await r.text()
      if (ok(r.status, last)) return { ms: performance.now() - t0, body: last }
    } catch (err) {
      last = String(err)
    }
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out polling ${url}: ${last.slice(0, 300)}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
