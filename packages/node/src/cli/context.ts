/**
 * What every command gets: the injected I/O (so tests can run commands in-process), and
 * helpers that turn the global flags into a loaded config, an API client or an admin path.
 */
import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import type { Logger } from 'pino'
import { httpUrlFor } from '../config/addr.js'
import { loadConfig, parseSetArg, type ConfigOverride, type LoadedConfig } from '../config/load.js'
import type { PatinaConfig } from '../config/schema.js'
import type { CliApi, CreateCliApi } from './api.js'
import { retryWhileRefused } from './connect-retry.js'

export interface Output {
  write(chunk: string): unknown
  isTTY?: boolean
}

/** What an agent started by `patina agent` gives back (see `packages/node/src/runtime/agent.ts`). */
export interface RunningAgent {
  stop(): Promise<void>
  apiUrl: string
}
export type StartAgent = (config: PatinaConfig, deps: { logger: Logger }) => Promise<RunningAgent>

/** Starts an edge daemon from its TOML config; it runs until `stop()`. */
export type RunEdge = (configPath: string, deps: { logger: Logger }) => Promise<{ stop(): Promise<void> }>

export interface CliDeps {
  stdout: Output
  stderr: Output
  env: Readonly<Record<string, string | undefined>>
  cwd: string
  /** Aborted when the process is asked to stop (SIGINT/SIGTERM); long-running commands watch it. */
  shutdown: AbortSignal
  /** HTTP API client factory (default: `@patina/client`). */
  createApi: CreateCliApi
  /** Agent starter (default: `startAgent` from `../agent.js`). */
  startAgent?: StartAgent
  /** Edge daemon starter (default: `runEdge` from `@patina/edge`). */
  runEdge?: RunEdge
  /** Command that runs this CLI in a child process (`patina dev`): executable and leading args. */
  selfCommand?: { command: string; args: string[] }
  /** How long one-shot commands retry a refused connection (default `CONNECT_RETRY_MS`). */
  connectRetryMs?: number
}

/**
 * Where a command's log lines go: file descriptor 1 (synchronous, as pino writes best) when
 * `deps.stdout` is this process's stdout, else `deps.stdout` itself (a test capturing output).
 */
export function logDestination(deps: CliDeps): 1 | { write(line: string): unknown } {
  return deps.stdout === process.stdout ? 1 : deps.stdout
}

/** Global flags, as commander gives them to every command (`cmd.optsWithGlobals()`). */
export interface GlobalOptions {
  config?: string
  apiAddr?: string
  dbPath?: string
  adminPath?: string
  token?: string
  set?: string[]
}

/** Default location tried when neither `-c` nor `PATINA_CONFIG` is given (Corrosion: /etc/corrosion/config.toml). */
export const DEFAULT_CONFIG_PATH = '/etc/patina/config.toml'

export function globalsOf(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>()
}

const isUrl = (s: string) => /^https?:\/\//i.test(s)

/** The config file to read: `-c`, else `PATINA_CONFIG`, else `/etc/patina/config.toml` when it exists. */
export function configPathOf(g: GlobalOptions, deps: CliDeps): string | undefined {
  if (g.config !== undefined) return g.config
  const env = deps.env['PATINA_CONFIG']
  if (env !== undefined && env !== '') return env
  return existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined
}

/** Flag overrides, lowest first: `--set` in order, then the dedicated flags. */
export function overridesOf(g: GlobalOptions): ConfigOverride[] {
  const o: ConfigOverride[] = (g.set ?? []).map(parseSetArg)
  if (g.apiAddr !== undefined && !isUrl(g.apiAddr))
    o.push({ key: 'api.addr', value: g.apiAddr, source: '--api-addr' })
  if (g.dbPath !== undefined) o.push({ key: 'db.path', value: g.dbPath, source: '--db-path' })
  if (g.adminPath !== undefined) o.push({ key: 'admin.path', value: g.adminPath, source: '--admin-path' })
  return o
}

export function loadCliConfig(cmd: Command, deps: CliDeps): LoadedConfig {
  const g = globalsOf(cmd)
  return loadConfig({
    configPath: configPathOf(g, deps),
    env: deps.env,
    cwd: deps.cwd,
    overrides: overridesOf(g),
  })
}

/** The API base URL: `--api-addr` (a URL or host:port), else the first `api.addr`. */
export function apiUrlOf(g: GlobalOptions, config: PatinaConfig): string {
  if (g.apiAddr !== undefined && isUrl(g.apiAddr)) return g.apiAddr.replace(/\/+$/, '')
  const first = config.api.addr[0]
  if (first === undefined) throw new Error('api.addr is empty')
  return httpUrlFor(first)
}

/** The bearer token: `--token`, else `PATINA_TOKEN`, else the config's first write token, else its first token. */
export function tokenOf(g: GlobalOptions, deps: CliDeps, config: PatinaConfig): string | undefined {
  if (g.token !== undefined) return g.token
  const env = deps.env['PATINA_TOKEN']
  if (env !== undefined && env !== '') return env
  const tokens = config.api.authorization.tokens
  return (tokens.find((t) => t.role === 'write') ?? tokens[0])?.token
}

export async function apiOf(cmd: Command, deps: CliDeps): Promise<{ api: CliApi; url: string }> {
  const { config } = loadCliConfig(cmd, deps)
  const g = globalsOf(cmd)
  const url = apiUrlOf(g, config)
  const token = tokenOf(g, deps, config)
  const api = await deps.createApi(token === undefined ? { url } : { url, token })
  return { api, url }
}

/**
 * The first request of a one-shot command: retried for a short while when the agent refuses the
 * connection (it may be starting), with a note on stderr (see `connect-retry.ts`).
 */
export function firstRequest<T>(deps: CliDeps, url: string, attempt: () => Promise<T>): Promise<T> {
  return retryWhileRefused(attempt, {
    url,
    budgetMs: deps.connectRetryMs,
    onWait: (m) => void deps.stderr.write(`${m}\n`),
    signal: deps.shutdown,
  })
}

/** Runs `fn` with a client and closes it afterwards. */
export async function withApi<T>(
  cmd: Command,
  deps: CliDeps,
  fn: (api: CliApi, url: string) => Promise<T>,
): Promise<T> {
  const { api, url } = await apiOf(cmd, deps)
  try {
    return await fn(api, url)
  } finally {
    await api.close()
  }
}

/** Thrown by a command to end with a given exit code after it has printed its own message. */
export class ExitError extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`)
    this.name = 'ExitError'
  }
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}
