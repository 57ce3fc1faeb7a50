#!/usr/bin/env -S node --optimize-for-size
/**
 * `patina-edge -c edge.toml`: the edge daemon's own binary (the same as `patina -c edge.toml edge`
 * of `@patina/node`, without the worker's dependencies). Logs JSON lines (pino) on stdout; stops
 * on SIGINT/SIGTERM after saving the state file.
 *
 * `--optimize-for-size`: V8 keeps a smaller heap (an edge holding 100,000 rows from a fake worker:
 * RSS 225 → 126 MiB); lookups are map reads and do not need the optimizing compiler's headroom.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { pino, type Level } from 'pino'
import { runEdge } from './edge.js'

const USAGE = `usage: patina-edge -c <edge.toml> [--log-level info]

Runs a Patina edge: subscribes to the queries of the config on nearby workers, keeps their rows
in memory and serves lookups on a local HTTP port (GET /v1/lookup/<query>?key=...), also while
no worker is reachable (marked stale). See docs/edge.md for the config.

options:
  -c, --config <path>    the edge config file (TOML); required
      --log-level <lvl>  fatal, error, warn, info (default), debug, trace, silent
  -h, --help             this text
  -v, --version          the version of @patina/edge
`

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

/** Parses the arguments; returns the exit code when the process should end at once. */
export async function main(argv: string[], signal: AbortSignal): Promise<number> {
  let values: { config?: string; 'log-level'?: string; help?: boolean; version?: boolean }
  try {
    values = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (err) {
    process.stderr.write(`patina-edge: ${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`)
    return 0
  }
  if (values.config === undefined) {
    process.stderr.write(`patina-edge: the config file is required (-c edge.toml)\n\n${USAGE}`)
    return 2
  }
  const level = values['log-level'] ?? 'info'
  if (!LEVELS.includes(level)) {
    process.stderr.write(
      `patina-edge: --log-level value "${level}" is invalid; allowed: ${LEVELS.join(', ')}\n`,
    )
    return 2
  }
  const logger = pino({ level: level as Level })
  let edge
  try {
    edge = await runEdge(values.config, { logger })
  } catch (err) {
    process.stderr.write(`patina-edge: ${(err as Error).message}\n`)
    return 1
  }
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve()
    else signal.addEventListener('abort', () => resolve(), { once: true })
  })
  await edge.stop()
  logger.info({ component: 'cli' }, 'edge stopped')
  return 0
}

const controller = new AbortController()
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort(sig))
process.exitCode = await main(process.argv.slice(2), controller.signal)
