/** `patina agent`: load and validate the config, start the worker, stop it cleanly on SIGINT/SIGTERM. */
import type { Command } from 'commander'
import { createLogger } from '../../log.js'
import { loadCliConfig, type CliDeps, type StartAgent } from '../context.js'

async function defaultStartAgent(): Promise<StartAgent> {
  // Resolved at run time so that the CLI's other commands work without loading the agent's
  // dependencies (libp2p, fastify).
  const specifier = '../../agent.js'
  const mod = (await import(specifier)) as { startAgent?: StartAgent }
  if (typeof mod.startAgent !== 'function')
    throw new Error('packages/node/src/agent.ts does not export startAgent')
  return mod.startAgent
}

export function registerAgentCommand(program: Command, deps: CliDeps): void {
  program
    .command('agent')
    .description('Run a worker: replicated SQLite state, gossip, sync, the HTTP API and the admin socket')
    .addHelpText('after', '\nExample:\n  patina -c /etc/patina/config.toml agent')
    .action(async (_opts: unknown, cmd: Command) => {
      const { config, warnings, configPath } = loadCliConfig(cmd, deps)
      const logger = createLogger(config.log)
      const log = logger.child({ component: 'cli' })
      for (const w of warnings) log.warn(w)
      log.info({ config: configPath ?? null }, 'starting patina agent')
      const startAgent = deps.startAgent ?? (await defaultStartAgent())
      const agent = await startAgent(config, { logger })
      log.info({ api: agent.apiUrl, admin: config.admin.path }, 'agent running')
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
