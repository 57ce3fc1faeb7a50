/** `patina agent`: load and validate the config, start the worker, stop it cleanly on SIGINT/SIGTERM. */
import type { Command } from 'commander'
import { componentLogger, createLogger } from '../../runtime/log.js'
import { loadCliConfig, logDestination, type CliDeps, type StartAgent } from '../context.js'

async function defaultStartAgent(): Promise<StartAgent> {
  // Loaded on demand so that the other commands start without libp2p and fastify.
  const { startAgent } = await import('../../runtime/agent.js')
  return startAgent
}

export function registerAgentCommand(program: Command, deps: CliDeps): void {
  program
    .command('agent')
    .description('Run a worker: replicated SQLite state, gossip, sync, the HTTP API and the admin socket')
    .addHelpText('after', '\nExample:\n  patina -c /etc/patina/config.toml agent')
    .action(async (_opts: unknown, cmd: Command) => {
      const { config, warnings, configPath } = loadCliConfig(cmd, deps)
      const logger = createLogger(config.log, { destination: logDestination(deps) })
      const log = componentLogger(logger, 'cli')
      for (const w of warnings) log.warn(w)
      log.info({ config: configPath ?? null }, 'starting patina agent')
      const startAgent = deps.startAgent ?? (await defaultStartAgent())
      const agent = await startAgent(config, { logger })
      log.info({ api: agent.apiUrl, admin: config.admin.path }, 'agent running')
      // One plain line for whoever waits in the terminal (the JSON log may go elsewhere).
      deps.stderr.write(`patina agent ready: API ${agent.apiUrl} (Ctrl-C stops it)\n`)
      await new Promise<void>((resolve) => {
        if (deps.shutdown.aborted) resolve()
        deps.shutdown.addEventListener('abort', () => resolve(), { once: true })
      })
      log.info({ reason: String(deps.shutdown.reason ?? 'shutdown') }, 'stopping agent')
      await agent.stop()
      log.info('agent stopped')
      logger.flush()
    })
}
