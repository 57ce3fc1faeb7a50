#!/usr/bin/env -S node --optimize-for-size
/* global URL */
// The `patina-edge` command of an installed @patina/edge: the compiled CLI in dist/ (`pnpm build`).
// This launcher always exists, so that pnpm can link the bin in a checkout before any build.
// `--optimize-for-size`: see src/cli.ts.
import { existsSync } from 'node:fs'

const main = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(main)) {
  console.error(
    'patina-edge: the compiled CLI (@patina/edge/dist/cli.js) is missing: run `pnpm build`, ' +
      'or in a checkout of the repository use `bin/patina -c edge.toml edge`',
  )
  process.exit(1)
}
await import(main.href)
