/** `cluster members` (HTTP). The admin-socket commands are in `admin.ts`. */
import type { Command } from 'commander'
import { firstRequest, withApi, type CliDeps } from '../context.js'
import { renderMembersResponse } from '../format.js'

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
}
