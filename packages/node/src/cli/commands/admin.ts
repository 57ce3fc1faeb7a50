/**
 * The admin-socket commands of the CLI (`reload`, `sync status`, `subs list`, `log set`), one per
 * entry of the admin command table that has CLI words (`admin/commands.ts`): each prints the
 * agent's JSON answer.
 */
import { Argument, type Command } from 'commander'
import { ADMIN_CLI_GROUPS, ADMIN_COMMANDS } from '../../admin/commands.js'
import { adminRequest } from '../../admin/client.js'
import type { AdminCommand } from '../../admin/protocol.js'
import { loadCliConfig, type CliDeps } from '../context.js'

/** The sub-command `name` of `parent`, made (with its group description) if absent. */
function group(parent: Command, name: string): Command {
  const found = parent.commands.find((c) => c.name() === name)
  if (found !== undefined) return found
  const g = parent.command(name)
  const description = ADMIN_CLI_GROUPS[name]
  if (description !== undefined) g.description(description)
  return g
}

export function registerAdminCommands(program: Command, deps: CliDeps): void {
  for (const spec of ADMIN_COMMANDS) {
    if (spec.cli === undefined) continue
    const words = spec.cli
    const parent = words.slice(0, -1).reduce(group, program)
    const cmd = parent.command(words[words.length - 1] as string).description(spec.help)
    const arg = spec.arg
    if (arg !== undefined) {
      const a = new Argument(`<${arg}>`, spec.argHelp)
      cmd.addArgument(spec.choices === undefined ? a : a.choices(spec.choices))
    }
    cmd.action(async (...params: unknown[]) => {
      // commander passes the arguments, then the options, then the command
      const self = params[params.length - 1] as Command
      const request = (
        arg === undefined ? { cmd: spec.cmd } : { cmd: spec.cmd, [arg]: params[0] }
      ) as AdminCommand
      const result = await adminRequest(loadCliConfig(self, deps).config.admin.path, request)
      deps.stdout.write(JSON.stringify(result, null, 2) + '\n')
    })
  }
}
