#!/usr/bin/env node
/* global URL */
// The `patina` command of an installed @patina/node: the compiled CLI in dist/ (`pnpm build`).
// In a checkout of the repository, run bin/patina at its root instead: it runs the sources.
import { existsSync } from 'node:fs'

const main = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(main)) {
  console.error(
    'patina: the compiled CLI (@patina/node/dist/cli/main.js) is missing: run `pnpm build`, ' +
      'or in a checkout of the repository use bin/patina',
  )
  process.exit(1)
}
await import(main.href)
