/** `patina edge`: the edge daemon of `@patina/client` (subscriptions served from memory). */
import type { Command } from 'commander'
import { configPathOf, globalsOf, type CliDeps } from '../context.js'

type RunEdge = (configPath: string | undefined, signal: AbortSignal) => Promise<void>

async function defaultRunEdge(): Promise<RunEdge> {
  const mod = (await import('@patina/client')) as Record<string, unknown>
  const runEdge = mod['runEdge']
  if (typeof runEdge !== 'function') throw new Error('@patina/client does not export runEdge yet')
  return runEdge as RunEdge
}

export function registerEdgeCommand(program: Command, deps: CliDeps): void {
  program
    .command('edge')
    .description(
      'Run an edge daemon: subscribe to the configured queries on nearby workers, keep the rows in memory, ' +
        'serve lookups on a local HTTP port, keep serving while no worker is reachable. -c names the edge config',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const runEdge = deps.runEdge ?? (await defaultRunEdge())
      await runEdge(configPathOf(globalsOf(cmd), deps), deps.shutdown)
    })
}
