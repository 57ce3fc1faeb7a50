/** The default {@link CreateCliApi}: `@patina/client`'s `createClient` for one worker URL. */
import type { CliApi, CliApiOptions } from './api.js'

type CreateClient = (opts: CliApiOptions) => CliApi

export async function createDefaultApi(opts: CliApiOptions): Promise<CliApi> {
  const mod = (await import('@patina/client')) as Record<string, unknown>
  const createClient = mod['createClient']
  if (typeof createClient !== 'function') throw new Error('@patina/client does not export createClient yet')
  return (createClient as CreateClient)(opts)
}
