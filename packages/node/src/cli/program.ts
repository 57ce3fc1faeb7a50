/**
 * The `patina` command line (commander). {@link runCli} runs one invocation with injected I/O
 * and returns the exit code, so tests drive it in-process; `main.ts` wires it to the process.
 */
import { Command, CommanderError, Option } from 'commander'
import { PatinaError } from '@patina/api'
import { collect, ExitError, type CliDeps } from './context.js'
import { registerAdminCommands } from './commands/admin.js'
import { registerAgentCommand } from './commands/agent.js'
import { registerBackupCommands } from './commands/backup.js'
import { registerClusterCommands } from './commands/cluster.js'
import { registerDevCommand } from './commands/dev.js'
import { registerEdgeCommand } from './commands/edge.js'
import { registerSqlCommands } from './commands/sql.js'
import { registerTemplateCommand } from './commands/template.js'

export const CLI_VERSION = '0.1.0'

/** Builds the program; every command and sub-command has `--help`. */
export function buildProgram(deps: CliDeps): Command {
  const program = new Command('patina')
  program
    .description('Patina: gossip-replicated SQLite state, in the style of Corrosion')
    .version(CLI_VERSION)
    .option(
      '-c, --config <path>',
      'config file (TOML); default $PATINA_CONFIG, else /etc/patina/config.toml if present',
    )
    .option(
      '--api-addr <addr>',
      'API address (host:port or URL): the agent listens on it, other commands call it',
    )
    .option('--db-path <path>', 'database file (db.path)')
    .option('--admin-path <path>', 'admin socket (admin.path)')
    .option('--token <token>', 'bearer token for the HTTP API (default $PATINA_TOKEN, else from the config)')
    .addOption(
      new Option('--set <key=value>', 'set any config key, e.g. --set gossip.cluster_id=3 (repeatable)')
        .argParser(collect)
        .default([]),
    )
    .showHelpAfterError()
    .configureOutput({
      writeOut: (s) => void deps.stdout.write(s),
      writeErr: (s) => void deps.stderr.write(s),
    })
    .exitOverride()
  registerAgentCommand(program, deps)
  registerSqlCommands(program, deps)
  registerClusterCommands(program, deps)
  registerAdminCommands(program, deps)
  registerBackupCommands(program, deps)
  registerEdgeCommand(program, deps)
  registerTemplateCommand(program, deps)
  registerDevCommand(program, deps)
  // Sub-commands inherit output and exit handling.
  const inherit = (cmd: Command) => {
    for (const c of cmd.commands) {
      c.copyInheritedSettings(cmd)
      inherit(c)
    }
  }
  inherit(program)
  return program
}

/** Runs one invocation (`argv` without node and script) and resolves to the exit code. */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  const program = buildProgram(deps)
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return 0
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode
    if (e instanceof ExitError) return e.exitCode
    const msg = e instanceof Error ? e.message : String(e)
    const code = e instanceof PatinaError ? ` [${e.code}]` : ''
    deps.stderr.write(`error: ${msg}${code}\n`)
    return 1
  }
}
