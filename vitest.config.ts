import { defaultServerConditions } from 'vite'
import { defineConfig } from 'vitest/config'

// Tests run against TypeScript sources: the `source` export condition maps every
// @patina/* package to its src/index.ts, so no build is needed before testing.
// Two groups, one after the other: the unit tiers (in-process, CPU-bound, no fixed ports) run
// two files at a time, one per core; then the tiers that start processes, clusters and
// containers run one file at a time, so that their processes do not compete for the cores.
// Projects of one group must share `maxWorkers`.
const UNIT = { sequence: { groupOrder: 0 }, maxWorkers: 2 }
const SYSTEM = { sequence: { groupOrder: 1 }, maxWorkers: 1 }
const project = (
  name: string,
  include: string[],
  group: typeof UNIT | typeof SYSTEM,
  extra: Record<string, unknown> = {},
) => ({
  extends: true as const,
  test: { name, include, ...group, ...extra },
})

export default defineConfig({
  resolve: { conditions: ['source', ...defaultServerConditions] },
  ssr: { resolve: { conditions: ['source', ...defaultServerConditions] } },
  test: {
    environment: 'node',
    // CI asks for a JSON report (PATINA_TEST_JSON=path) to print the pass/fail totals.
    reporters: process.env['PATINA_TEST_JSON'] ? ['default', 'json'] : ['default'],
    ...(process.env['PATINA_TEST_JSON'] ? { outputFile: { json: process.env['PATINA_TEST_JSON'] } } : {}),
    setupFiles: ['./scripts/polyfill.mjs'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      project('api', ['packages/api/test/**/*.test.ts'], UNIT),
      project('core', ['packages/core/test/**/*.test.ts'], UNIT),
      project('node', ['packages/node/test/**/*.test.ts'], UNIT),
      project('client', ['packages/client/test/**/*.test.ts'], UNIT),
      project('edge', ['packages/edge/test/**/*.test.ts'], UNIT),
      project('template', ['packages/template/test/**/*.test.ts'], UNIT),
      project('integration', ['test/inproc/**/*.test.ts', 'test/process/**/*.test.ts'], SYSTEM, {
        testTimeout: 120_000,
      }),
      project('chaos', ['test/chaos/**/*.test.ts'], SYSTEM, { testTimeout: 600_000 }),
      project('docker', ['test/docker/**/*.test.ts'], SYSTEM, { testTimeout: 600_000, hookTimeout: 900_000 }),
    ],
  },
})
