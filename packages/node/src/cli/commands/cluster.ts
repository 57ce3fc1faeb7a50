/** `cluster members` (HTTP), and the admin-socket commands `reload`, `sync status`, `subs list`, `log set`. */
import type { Command } from 'commander'
import { Argument } from 'commander'
import { adminRequest } from '../../admin/client.js'
import { LOG_LEVELS } from '../../config/schema.js'
import { firstRequest, loadCliConfig, withApi, type CliDeps } from '../context.js'
import { renderMembersResponse } from '../format.js'

function adminPathOf(cmd: Command, deps: CliDeps): string {
  return loadCliConfig(cmd, deps).config.admin.path
}

function printJson(deps: CliDeps, value: unknown): void {
  deps.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

export function registerClusterCommands(program: Command, deps: CliDeps): void {
  const cluster = program.command('cluster').description('Cluster membership')
  cluster
    .command('members')
    .description(
      'List the members this node knows, with their state and round-trip time, and whether this node is isolated (GET /v1/cluster/members)',
    )
    .option('--json', 'print the raw JSON answer')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withApi(cmd, deps, async (api, url) => {
        const res = await firstRequest(deps, url, () => api.members())
        if (opts.json) printJson(deps, res)
        else deps.stdout.write(renderMembersResponse(res))
      })
    })

  program
    .command('reload')
    .description('Re-apply the schema files (db.schema_paths) on the running agent, through the admin socket')
    .action(async (_opts: unknown, cmd: Command) => {
      const path = adminPathOf(cmd, deps)
      const result = await adminRequest(path, { cmd: 'reload' })
      printJson(deps, result)
    })

  const sync = program.command('sync').description('Anti-entropy sync (admin socket)')
  sync
    .command('status')
    .description("Show this node's sync state: heads, gaps and recent sync sessions")
    .action(async (_opts: unknown, cmd: Command) => {
      printJson(deps, await adminRequest(adminPathOf(cmd, deps), { cmd: 'sync-status' }))
    })

  const subs = program.command('subs').description('Subscriptions (admin socket)')
  subs
    .command('list')
    .description('List the live subscriptions on this node')
    .action(async (_opts: unknown, cmd: Command) => {
      printJson(deps, await adminRequest(adminPathOf(cmd, deps), { cmd: 'subs-list' }))
    })

  const log = program.command('log').description('Logging of the running agent (admin socket)')
  log
    .command('set')
    .description('Change the log level of the running agent until it restarts')
    .addArgument(new Argument('<level>', 'the new level').choices(LOG_LEVELS))
    .action(async (level: (typeof LOG_LEVELS)[number], _opts: unknown, cmd: Command) => {
      printJson(deps, await adminRequest(adminPathOf(cmd, deps), { cmd: 'log-level', level }))
    })
}
