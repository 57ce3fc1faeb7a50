#!/usr/bin/env node
/**
 * Entry point of the `patina` binary: `pnpm patina --help` from the repository root, or the
 * installed `patina` bin.
 */
import '../runtime/polyfill.js'
import { createDefaultApi } from './client.js'
import { runCli } from './program.js'

const controller = new AbortController()
let firstSignalAt: number | undefined
const onSignal = (sig: NodeJS.Signals) => {
  const now = Date.now()
  if (firstSignalAt === undefined) {
    firstSignalAt = now
    controller.abort(sig)
    return
  }
  // Ctrl-C under `pnpm patina` arrives twice (from the terminal and forwarded by pnpm): only a
  // signal well after the first one means "stop waiting, exit now".
  if (now - firstSignalAt < 2_000) return
  process.stderr.write(`received ${sig} again; exiting now\n`)
  process.exit(130)
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  shutdown: controller.signal,
  createApi: createDefaultApi,
  selfCommand: { command: process.execPath, args: [...process.execArgv, process.argv[1] ?? ''] },
})
process.off('SIGINT', onSignal)
process.off('SIGTERM', onSignal)
process.exitCode = code
// Lingering keep-alive sockets must not keep a finished command alive.
setTimeout(() => process.exit(code), 2_000).unref()
