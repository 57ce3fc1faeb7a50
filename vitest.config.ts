import { defaultServerConditions } from 'vite'
import { defineConfig } from 'vitest/config'

// Tests run against TypeScript sources: the `source` export condition maps every
// @patina/* package to its src/index.ts, so no build is needed before testing.
const project = (name: string, include: string[], extra: Record<string, unknown> = {}) => ({
  extends: true as const,
  test: { name, include, ...extra },
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
      project('api', ['packages/api/test/**/*.test.ts']),
      project('core', ['packages/core/test/**/*.test.ts']),
      project('node', ['packages/node/test/**/*.test.ts']),
      project('client', ['packages/client/test/**/*.test.ts']),
      project('edge', ['packages/edge/test/**/*.test.ts']),
      project('template', ['packages/template/test/**/*.test.ts']),
      project('integration', ['test/inproc/**/*.test.ts', 'test/process/**/*.test.ts'], {
        testTimeout: 120_000,
      }),
      project('chaos', ['test/chaos/**/*.test.ts'], { testTimeout: 600_000 }),
      project('docker', ['test/docker/**/*.test.ts'], { testTimeout: 600_000, hookTimeout: 900_000 }),
    ],
  },
})
