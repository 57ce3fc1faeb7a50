/** `patina edge`: the edge daemon of `@patina/edge` (the same as its own binary `patina-edge`). */
import type { Command } from 'commander'
import { PatinaError } from '@patina/api'
import { componentLogger, createLogger } from '../../runtime/log.js'
import { configPathOf, globalsOf, logDestination, type CliDeps, type RunEdge } from '../context.js'

async function defaultRunEdge(): Promise<RunEdge> {
  // Loaded on demand so that other commands do not load the edge's dependencies.
  const { runEdge } = await import('@patina/edge')
  return runEdge
}

export function registerEdgeCommand(program: Command, deps: CliDeps): void {
  program
    .command('edge')
    .description(
      'Run an edge daemon: subscribe to the configured queries on nearby workers, keep the rows in memory, ' +
        'serve lookups on a local HTTP port, keep serving while no worker is reachable. -c names the edge config',
    )
    .addHelpText(
      'after',
      '\nExample edge config:\n' +
        '  workers = ["http://127.0.0.1:8080", "http://127.0.0.1:8081"]\n' +
        '  listen = "127.0.0.1:8900"\n' +
        '  [[queries]]\n' +
        '  name = "routes"\n' +
        '  sql = "SELECT host, backend_addr FROM routes"\n' +
        '  key = ["host"]\n' +
        '\nThen: curl "http://127.0.0.1:8900/v1/lookup/routes?key=api.example.com"',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const configPath = configPathOf(globalsOf(cmd), deps)
      if (configPath === undefined)
        throw new PatinaError(
          'PATINA_ERR_CONFIG_INVALID',
          'patina edge needs its config file: patina -c edge.toml edge',
        )
      const logger = createLogger(
        { format: deps.stdout.isTTY ? 'pretty' : 'json', level: 'info', colors: true },
        { destination: logDestination(deps) },
      )
      const runEdge = deps.runEdge ?? (await defaultRunEdge())
      const edge = await runEdge(configPath, { logger })
      componentLogger(logger, 'cli').info({ config: configPath }, 'edge running')
      await new Promise<void>((resolve) => {
        if (deps.shutdown.aborted) resolve()
        deps.shutdown.addEventListener('abort', () => resolve(), { once: true })
      })
      await edge.stop()
      componentLogger(logger, 'cli').info('edge stopped')
    })
}
