import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exec, queryRows } from '../../test/helpers/http.js'
import { CLI, freePort, ROOT, WorkerProcess } from '../../test/helpers/process.js'

export { freePort, WorkerProcess }

/**
 * Workers run the way a user runs Patina: the compiled CLI (`packages/node/bin/patina.js` →
 * `dist/`, built once per bench process by {@link buildPatina}). `BENCH_SOURCE=1` runs the
 * TypeScript sources through tsx instead (slower start, different JIT profile).
 */
export const FROM_SOURCE = process.env['BENCH_SOURCE'] === '1'
export const PATINA_BIN = join(ROOT, 'packages/node/bin/patina.js')

let built = false
/** `pnpm build` (incremental `tsc -b`), once per process; nothing when running from sources. */
export function buildPatina(): void {
  if (FROM_SOURCE || built) return
  execFileSync('pnpm', ['build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
  built = true
}

/** The command that runs `patina` for a bench worker, with `nodeArgs` (e.g. `--cpu-prof`) for node. */
export function patinaCommand(nodeArgs: string[] = []): string[] {
  buildPatina()
  return [process.execPath, ...nodeArgs, ...(FROM_SOURCE ? CLI : [PATINA_BIN])]
}

/**
 * Node arguments that run a bench-side TypeScript script (e.g. `agent-variant.ts`) whose
 * `@patina/*` imports resolve like the workers': to `dist/` unless `BENCH_SOURCE=1`.
 */
export function scriptArgs(script: string): string[] {
  buildPatina()
  return [
    ...(FROM_SOURCE ? ['--conditions=source'] : []),
    '--import',
    join(ROOT, 'scripts/polyfill.mjs'),
    '--import',
    'tsx',
    join(ROOT, script),
  ]
}

/** A cluster of `n` worker child processes on loopback, all bootstrapping from the first ones. */
export async function startProcessCluster(
  n: number,
  schema: string,
  extraToml = '',
  opts: { command?: string[]; probeIntervalMs?: number; probeTimeoutMs?: number } = {},
): Promise<{ workers: WorkerProcess[]; dir: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'patina-bench-'))
  const schemaPath = join(dir, 'schema.sql')
  writeFileSync(schemaPath, schema)
  const gossip: number[] = []
  for (let i = 0; i < n; i++) gossip.push(await freePort())
  const workers: WorkerProcess[] = []
  for (let i = 0; i < n; i++) {
    workers.push(
      new WorkerProcess({
        name: `w${i}`,
        dir,
        apiPort: await freePort(),
        gossipPort: gossip[i] as number,
        bootstrap: gossip
          .slice(0, Math.min(3, n))
          .filter((_, j) => j !== i)
          .map((p) => `127.0.0.1:${p}`),
        schemaPath,
        extraToml,
        command: opts.command ?? patinaCommand(),
        ...(opts.probeIntervalMs !== undefined ? { probeIntervalMs: opts.probeIntervalMs } : {}),
        ...(opts.probeTimeoutMs !== undefined ? { probeTimeoutMs: opts.probeTimeoutMs } : {}),
      }),
    )
  }
  // Start a few at a time: the machine has 2 cores.
  for (let i = 0; i < n; i += 3) await Promise.all(workers.slice(i, i + 3).map((w) => w.start(120_000)))
  return {
    workers,
    dir,
    async stop() {
      await Promise.all(workers.map((w) => w.signal('SIGTERM')))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** POST /v1/transactions (the integration tests' helper); throws on non-200. */
export const tx = exec

/** The single integer a `SELECT count(*) ...` returns. */
export async function count(url: string, sql: string): Promise<number> {
  const rows = await queryRows(url, sql)
  const n = rows[0]?.[0]
  if (typeof n !== 'number') throw new Error(`no count in the answer to ${sql}`)
  return n
}

/** Follow `/v1/updates/:table` and call `onPk` with the first pk value of each notification. */
export function followUpdates(url: string, table: string, onPk: (pk: unknown) => void): AbortController {
  const ac = new AbortController()
  void (async () => {
    const res = await fetch(`${url}/v1/updates/${table}`, { method: 'POST', signal: ac.signal })
    let buf = ''
    const dec = new TextDecoder()
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true })
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (!line) continue
        const ev = JSON.parse(line) as { notify?: [string, unknown[]] }
        if (ev.notify) onPk(ev.notify[1][0])
      }
    }
  })().catch(() => undefined)
  return ac
}

export async function rssBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const m = /^patina_process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text)
  return m ? Number(m[1]) : NaN
}
