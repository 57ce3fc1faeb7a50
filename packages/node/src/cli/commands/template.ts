/**
 * `patina template SRC:DST[:CMD] ...`: Corrosion's `corrosion template`. Renders each template
 * (Eta) from live subscriptions on the workers, re-renders when their rows change, writes the
 * file atomically and runs CMD after a render that changed it. `--once` renders and exits
 * (non-zero when a template failed), for CI and cron. See docs/templates.md.
 */
import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import { createClient } from '@patina/client'
import { componentLogger, createLogger } from '../../runtime/log.js'
import { apiUrlOf, collect, ExitError, globalsOf, loadCliConfig, tokenOf, type CliDeps } from '../context.js'

function positiveMs(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError('expected a whole number of milliseconds >= 0')
  return n
}

function seconds(value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number of seconds > 0')
  return n
}

function hostPort(value: string): string {
  if (
    !/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(value) ||
    Number(value.slice(value.lastIndexOf(':') + 1)) > 65535
  )
    throw new InvalidArgumentError('expected host:port, e.g. 127.0.0.1:9101')
  return value
}

interface TemplateOpts {
  once?: boolean
  worker: string[]
  debounce: number
  maxDelay: number
  commandTimeout: number
  timeout: number
  listen?: string
  staleAfter: number
}

export function registerTemplateCommand(program: Command, deps: CliDeps): void {
  program
    .command('template')
    .description(
      'Render files from live state: every sql() in a template is a live subscription; the file is ' +
        're-rendered when its rows change, written atomically, and CMD runs when its content changed',
    )
    .argument(
      '<SRC:DST[:CMD]...>',
      'template file, output file, and an optional shell command run after a change',
    )
    .option('--once', 'render every template once and exit (status 1 when one failed)')
    .option(
      '--worker <url>',
      'a worker API URL to subscribe to (repeatable: failover between them); default --api-addr or api.addr',
      collect,
      [],
    )
    .option('--debounce <ms>', 'quiet time after a change before rendering', positiveMs, 100)
    .option(
      '--max-delay <ms>',
      'longest a change waits for a render while changes keep coming',
      positiveMs,
      1000,
    )
    .option('--command-timeout <seconds>', 'kill CMD after this long (counts as failed)', seconds, 30)
    .option(
      '--timeout <seconds>',
      'with --once: how long to wait for the first snapshot of the queries',
      seconds,
      30,
    )
    .option('--stale-after <ms>', 'health: data older than this counts as stale', positiveMs, 10_000)
    .option(
      '--listen <host:port>',
      'serve GET /metrics (Prometheus) and GET /health (JSON) on this address',
      hostPort,
    )
    .addHelpText(
      'after',
      '\nExample template (upstreams.eta):\n' +
        '  upstream app {\n' +
        '    <% for (const r of sql("SELECT backend FROM routes WHERE host = ?", ["app.example"])) { %>\n' +
        '    server <%= r.backend %>;\n' +
        '    <% } %>\n' +
        '  }\n' +
        '\nThen:\n' +
        '  patina template "upstreams.eta:/etc/nginx/conf.d/upstreams.conf:nginx -s reload"\n' +
        '\nHelpers: sql(query, params?), json(v, {pretty}), csv(rows), nginx(v), haproxy(v), isNull(v), text(v), hostname()',
    )
    .action(async (args: string[], opts: TemplateOpts, cmd: Command) => {
      const { parseTemplateSpec, createTemplateSet, serveTemplateStatus } = await import('@patina/template')
      const specs = args.map(parseTemplateSpec)
      const { config } = loadCliConfig(cmd, deps)
      const g = globalsOf(cmd)
      const workers = opts.worker.length > 0 ? opts.worker : [apiUrlOf(g, config)]
      const token = tokenOf(g, deps, config)
      const logger = createLogger(
        { format: deps.stdout.isTTY ? 'pretty' : 'json', level: opts.once ? 'silent' : 'info', colors: true },
        { destination: opts.once ? 2 : 1 },
      )
      const client = createClient({ workers, ...(token !== undefined ? { token } : {}), logger })
      const set = createTemplateSet(
        specs,
        {
          debounceMs: opts.debounce,
          maxDelayMs: opts.maxDelay,
          commandTimeoutMs: opts.commandTimeout * 1000,
          staleAfterMs: opts.staleAfter,
          watchIntervalMs: opts.once ? 0 : 500,
        },
        { source: client, logger },
      )
      try {
        if (opts.once) {
          const failures = await set.renderOnce(opts.timeout * 1000)
          for (const f of failures) deps.stderr.write(`error: ${f.name}: ${f.error.message}\n`)
          for (const t of set.health().templates)
            if (!failures.some((f) => f.name === t.name))
              deps.stdout.write(
                `${t.dst}: ${t.writes > 0 ? 'written' : 'unchanged'}${t.lastCommand !== null ? `; ${t.lastCommand}` : ''}\n`,
              )
          if (failures.length > 0) throw new ExitError(1)
          return
        }
        await set.start()
        const served = opts.listen === undefined ? null : await serveTemplateStatus(set, opts.listen)
        const cli = componentLogger(logger, 'cli')
        cli.info(
          { templates: specs.map((s) => s.dst), workers, ...(served ? { listen: served.address } : {}) },
          'templates running',
        )
        await new Promise<void>((resolve) => {
          if (deps.shutdown.aborted) resolve()
          deps.shutdown.addEventListener('abort', () => resolve(), { once: true })
        })
        if (served) await new Promise<void>((resolve) => served.server.close(() => resolve()))
        cli.info('templates stopped')
      } finally {
        await set.stop()
        await client.close()
      }
    })
}
