/**
 * `patina dev`: a local cluster for a first look. Starts N workers (child processes running this
 * CLI's `agent`) and M edges on loopback, writes a demo routing schema, seeds demo data through
 * the API, prints the URLs and example commands, shows every node's log with a colored prefix,
 * and stops everything it started (by pid) on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { relative, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import { PatinaError } from '@patina/api'
import type { CliDeps } from '../context.js'
import {
  DEMO_SCHEMA,
  demoData,
  exampleCommands,
  formatChildLog,
  planDev,
  prefixFor,
  type DevPlan,
} from '../dev-plan.js'
import {
  classifyWorkerAnswer,
  devPorts,
  portsTakenMessage,
  suggestBasePort,
  takenPorts,
} from '../dev-ports.js'

interface DevCliOptions {
  workers: number
  edges: number
  basePort?: number
  dir: string
  keep?: boolean
  seed: boolean
}

function count(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`)
    return n
  }
}

/** Ports the OS reports free on 127.0.0.1 right now (they may be taken before use; rare on loopback). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Server>((res, rej) => {
          const s = createServer()
          s.once('error', rej)
          s.listen(0, '127.0.0.1', () => res(s))
        }),
    ),
  )
  const ports = servers.map((s) => {
    const a = s.address()
    return typeof a === 'object' && a !== null ? a.port : 0
  })
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  return ports
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const t = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })

interface Child {
  name: string
  proc: ChildProcess
  exited: Promise<number | null>
  exitCode: number | null | undefined
  lastLines: string[]
}

async function postJson(url: string, body: unknown, signal: AbortSignal): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${text.slice(0, 300)}`)
  return text
}

/** Count of rows in `table` on the worker at `url` (parses the NDJSON answer). */
async function countRows(url: string, table: string, signal: AbortSignal): Promise<number> {
  const text = (await postJson(`${url}/v1/queries`, `SELECT count(*) FROM ${table}`, signal)) as string
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    const ev = JSON.parse(line) as { row?: [number, unknown[]]; error?: string }
    if (ev.error !== undefined) throw new Error(ev.error)
    if (ev.row) return Number(ev.row[1][0])
  }
  return 0
}

/**
 * How the user runs this CLI, for the commands `dev` prints: `$PATINA_CLI` (set by `bin/patina`),
 * `pnpm patina` under that pnpm script, else `patina`.
 */
export function cliName(env: Readonly<Record<string, string | undefined>>): string {
  const named = env['PATINA_CLI']
  if (named !== undefined && named !== '') return named
  return env['npm_lifecycle_event'] === 'patina' ? 'pnpm patina' : 'patina'
}

function relativeToCwd(path: string, cwd: string): string {
  const rel = relative(cwd, path)
  return rel.startsWith('..') ? path : rel
}

export function registerDevCommand(program: Command, deps: CliDeps): void {
  program
    .command('dev')
    .description(
      'Start a local cluster on loopback (N workers, M edges), with a demo routing schema and data; Ctrl-C stops it',
    )
    .option('--workers <n>', 'number of workers', count(1, 16), 3)
    .option('--edges <m>', 'number of edges', count(0, 8), 1)
    .option(
      '--base-port <port>',
      'use fixed ports: API base+i, gossip base+100+i, edges base+200+j (default: free ports)',
      count(1024, 65000),
    )
    .option('--dir <path>', 'directory for configs, databases and sockets', '.patina-dev')
    .option('--keep', 'keep the data of a previous run (default: start from scratch)')
    .option('--no-seed', 'do not write the demo data')
    .addHelpText('after', '\nExample:\n  pnpm patina dev --workers 3 --edges 1')
    .action(async (opts: DevCliOptions) => {
      await runDev(opts, deps)
    })
}

async function runDev(opts: DevCliOptions, deps: CliDeps): Promise<void> {
  const out = (s: string) => void deps.stdout.write(s)
  const self = deps.selfCommand
  if (!self)
    throw new PatinaError('PATINA_ERR_INTERNAL', 'patina dev needs to know how to start itself (selfCommand)')
  const dir = resolve(deps.cwd, opts.dir)
  const ports =
    opts.basePort !== undefined
      ? { basePort: opts.basePort }
      : { freePorts: await freePorts(2 * opts.workers + opts.edges) }
  const plan: DevPlan = planDev({ workers: opts.workers, edges: opts.edges, dir }, ports)
  // Before anything starts or is deleted: a taken port is named at once, with the flag that moves it.
  const taken = await takenPorts(devPorts(plan))
  if (taken.length > 0) {
    const suggestion =
      opts.basePort === undefined ? undefined : await suggestBasePort(opts.basePort, opts.workers, opts.edges)
    throw new PatinaError(
      'PATINA_ERR_ADDR_IN_USE',
      portsTakenMessage(taken, {
        ...(opts.basePort === undefined ? {} : { basePort: opts.basePort }),
        ...(suggestion === undefined ? {} : { suggestion }),
        workers: opts.workers,
        edges: opts.edges,
      }),
    )
  }
  if (!opts.keep) rmSync(dir, { recursive: true, force: true })
  mkdirSync(plan.schemaDir, { recursive: true })
  writeFileSync(plan.schemaPath, DEMO_SCHEMA)
  for (const w of plan.workers) {
    mkdirSync(w.dir, { recursive: true })
    writeFileSync(w.configPath, w.config)
  }
  for (const e of plan.edges) {
    mkdirSync(e.dir, { recursive: true })
    writeFileSync(e.configPath, e.config)
  }
  const color = deps.stdout.isTTY === true
  const width = Math.max(8, ...[...plan.workers, ...plan.edges].map((n) => n.name.length))
  const devPrefix = prefixFor('dev', 7, width, color)
  const say = (s: string) => out(`${devPrefix}${s}\n`)
  const children: Child[] = []
  const stopping = new AbortController()
  const onShutdown = () => stopping.abort()
  deps.shutdown.addEventListener('abort', onShutdown, { once: true })
  // If this process is forced to exit before stopping its children, kill them (by pid) anyway.
  const killLeftovers = () => {
    for (const c of children) if (c.exitCode === undefined) c.proc.kill('SIGKILL')
  }
  process.on('exit', killLeftovers)

  const start = (name: string, index: number, args: string[]): Child => {
    const proc = spawn(self.command, [...self.args, ...args], {
      cwd: deps.cwd,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group: Ctrl-C reaches only `patina dev`, which stops the children in order.
      detached: true,
    })
    const prefix = prefixFor(name, index, width, color)
    const child: Child = {
      name,
      proc,
      exitCode: undefined,
      lastLines: [],
      exited: new Promise((res) => proc.once('exit', (code, sig) => res(code ?? (sig ? 128 : null)))),
    }
    void child.exited.then((code) => {
      child.exitCode = code
      if (!stopping.signal.aborted) say(`${name} (pid ${proc.pid}) exited with code ${code}`)
    })
    for (const stream of [proc.stdout, proc.stderr]) {
      if (!stream) continue
      createInterface({ input: stream }).on('line', (line) => {
        child.lastLines.push(line)
        if (child.lastLines.length > 20) child.lastLines.shift()
        out(prefix + formatChildLog(line) + '\n')
      })
    }
    children.push(child)
    return child
  }

  const stopAll = async () => {
    stopping.abort()
    const alive = children.filter((c) => c.exitCode === undefined && c.proc.pid !== undefined)
    if (alive.length > 0) say(`stopping ${alive.map((c) => `${c.name} (pid ${c.proc.pid})`).join(', ')}`)
    for (const c of alive) c.proc.kill('SIGTERM')
    const deadline = sleep(15_000)
    await Promise.race([Promise.all(alive.map((c) => c.exited)), deadline])
    for (const c of alive) {
      if (c.exitCode === undefined) {
        say(`${c.name} did not stop within 15 s; killing pid ${c.proc.pid}`)
        c.proc.kill('SIGKILL')
        await c.exited
      }
    }
    say('stopped')
  }

  try {
    say(`starting ${plan.workers.length} worker(s) and ${plan.edges.length} edge(s) in ${dir}`)
    plan.workers.forEach((w, i) => start(w.name, i, ['-c', w.configPath, 'agent']))

    // Wait for every worker's API, and make sure the answer comes from that worker.
    const signal = stopping.signal
    for (const w of plan.workers) {
      const child = children.find((c) => c.name === w.name)
      for (let attempt = 0; ; attempt++) {
        if (signal.aborted) return
        if (child?.exitCode !== undefined) {
          const last = child?.lastLines.join('\n') ?? ''
          const inUse = /EADDRINUSE/.test(last)
            ? `\n${w.name}'s ports (API ${w.apiPort}, gossip ${w.gossipPort}) were taken after the check; ` +
              (opts.basePort === undefined
                ? 'run patina dev again.'
                : 'choose another base with --base-port.')
            : ''
          throw new PatinaError(
            inUse ? 'PATINA_ERR_ADDR_IN_USE' : 'PATINA_ERR_INTERNAL',
            `${w.name} exited (code ${child?.exitCode}) before its API answered; last lines:\n${last}${inUse}`,
          )
        }
        const answer = await fetch(`${w.apiUrl}/v1/cluster/members`, { signal: AbortSignal.timeout(1_000) })
          .then(async (res) => classifyWorkerAnswer(res.status, await res.text(), w.gossipPort))
          .catch(() => undefined) // not listening yet
        // 'starting': its API listens, its cluster is about to start
        if (answer === 'ours') break
        if (answer !== undefined && answer !== 'starting')
          throw new PatinaError(
            'PATINA_ERR_ADDR_IN_USE',
            `${w.apiUrl} answers, but not as ${w.name}: port ${w.apiPort} (${w.name} API) is in use by ` +
              `${answer === 'other-patina' ? 'another Patina worker' : 'another program'}; ` +
              (opts.basePort === undefined
                ? 'run patina dev again to pick other free ports.'
                : 'choose another base with --base-port, or leave it out to use free ports.'),
          )
        if (attempt > 600)
          throw new PatinaError('PATINA_ERR_TIMEOUT', `${w.name} API ${w.apiUrl} did not answer within 60 s`)
        await sleep(100, signal)
      }
      say(`${w.name} API is up at ${w.apiUrl} (pid ${child?.proc.pid})`)
    }

    if (opts.seed && plan.workers[0]) {
      const first = plan.workers[0]
      const data = demoData(Date.now())
      const total = data.reduce((n, t) => n + t.statements.length, 0)
      let done = 0
      for (const t of data) {
        // Wait until the schema is applied (the table exists) before writing.
        for (let attempt = 0; ; attempt++) {
          if (signal.aborted) return
          try {
            await countRows(first.apiUrl, t.table, signal)
            break
          } catch (e) {
            if (attempt > 300) throw e
            await sleep(100, signal)
          }
        }
        await postJson(`${first.apiUrl}/v1/transactions`, t.statements, signal)
        done += t.statements.length
        say(`seeding: ${t.table} (${t.statements.length} rows) - ${done}/${total}`)
      }
      const routes = data.find((t) => t.table === 'routes')?.statements.length ?? 0
      for (const w of plan.workers) {
        for (let attempt = 0; ; attempt++) {
          if (signal.aborted) return
          const n = await countRows(w.apiUrl, 'routes', signal).catch(() => -1)
          if (n >= routes) break
          if (attempt % 50 === 49)
            say(`waiting for ${w.name} to replicate the demo data (${Math.max(n, 0)}/${routes} routes)`)
          await sleep(100, signal)
        }
        say(`${w.name} has the demo data`)
      }
    }

    plan.edges.forEach((e, j) => start(e.name, plan.workers.length + j, ['-c', e.configPath, 'edge']))

    const cli = cliName(deps.env)
    const pidOf = (name: string) => children.find((c) => c.name === name)?.proc.pid ?? '?'
    const victim = plan.workers[1] ?? plan.workers[0]
    const lines = [
      '',
      'Patina dev cluster is up.',
      ...plan.workers.map(
        (w) => `  ${w.name.padEnd(width)} API ${w.apiUrl}   pid ${pidOf(w.name)}   config ${w.configPath}`,
      ),
      ...plan.edges.map(
        (e) => `  ${e.name.padEnd(width)} HTTP ${e.url}   pid ${pidOf(e.name)}   config ${e.configPath}`,
      ),
      '',
      'Try, in another terminal:',
      ...exampleCommands(plan, deps.cwd, cli).map((c) => `  ${c}`),
      '',
      ...(victim
        ? [
            `Kill ${victim.name} (pid ${pidOf(victim.name)}): kill ${pidOf(victim.name)}`,
            `then restart it and watch it catch up (it keeps the terminal; Ctrl-C stops it): ` +
              `${cli} -c ${relativeToCwd(victim.configPath, deps.cwd)} agent`,
          ]
        : []),
      'Ctrl-C stops everything.',
      '',
    ]
    out(lines.join('\n') + '\n')
    await new Promise<void>((res) => {
      if (stopping.signal.aborted) res()
      stopping.signal.addEventListener('abort', () => res(), { once: true })
    })
  } finally {
    deps.shutdown.removeEventListener('abort', onShutdown)
    await stopAll()
    process.off('exit', killLeftovers)
  }
}
