/** The default {@link CreateCliApi}: `@patina/client`'s `createClient` for one worker URL. */
import { createClient } from '@patina/client'
import type { CliApi, CliApiOptions } from './api.js'

export function createDefaultApi(opts: CliApiOptions): CliApi {
  // PatinaClient satisfies CliApi structurally; the assignment checks it.
  const api: CliApi = createClient(
    opts.token === undefined ? { url: opts.url } : { url: opts.url, token: opts.token },
  )
  return api
}
