/**
 * Logs of the agents a test runs in its own process: quiet unless a test fails.
 *
 * Importing this module (test/helpers/cluster.ts does) keeps the lines of every
 * {@link testLogger} in memory, per test file (the last {@link MAX_LINES}); when a test fails, the
 * lines logged while it ran are printed under it, and when a file fails before its tests run (in
 * `beforeAll`), the lines logged so far are printed at its end. Passing tests print nothing.
 *
 * `PATINA_TEST_LOG=<level>` (`debug`, `info`, `warn`, ...) prints every line live on stderr at
 * that level instead, e.g. `PATINA_TEST_LOG=debug pnpm exec vitest run test/inproc/agents.test.ts`.
 */
import { afterAll, afterEach, beforeEach, type RunnerTestSuite } from 'vitest'
import { createLogger, type AgentDeps } from '@patina/node'

/** Lines kept in memory per test file; older ones are dropped (and counted). */
export const MAX_LINES = 5_000

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
const live = process.env['PATINA_TEST_LOG'] || undefined
if (live !== undefined && !(LEVELS as readonly string[]).includes(live))
  throw new Error(`PATINA_TEST_LOG value "${live}" is not one of ${LEVELS.join(', ')}`)
const kept: string[] = []
/** Lines written so far (kept + dropped), so a test knows where its own lines start. */
let written = 0
let testStart = 0
let anyFailed = false

function keep(line: string): void {
  written++
  kept.push(line)
  if (kept.length > MAX_LINES) {
    kept.shift()
  }
}

/** The kept lines written since line number `from` (counting from the start of the file). */
function linesSince(from: number): string[] {
  const firstKept = written - kept.length
  const skipped = Math.max(0, firstKept - from)
  const lines = kept.slice(Math.max(0, from - firstKept))
  return skipped > 0 ? [`(${skipped} earlier log lines dropped)`, ...lines] : lines
}

function print(title: string, lines: string[]): void {
  if (lines.length === 0) return
  console.error(`${title} (${lines.length} lines; PATINA_TEST_LOG=debug prints them live)\n${lines.join('')}`)
}

beforeEach(() => {
  testStart = written
})

afterEach((ctx) => {
  if (ctx.task.result?.state !== 'fail') return
  anyFailed = true
  print('agent logs while this test ran', linesSince(testStart))
})

// vitest reads the first parameter as a fixture pattern: it must be a destructuring one.
// eslint-disable-next-line no-empty-pattern
afterAll(({}, file) => {
  // A failure in beforeAll fails a suite before its tests ran: show what the agents said.
  if (!anyFailed && hookFailed(file)) print('agent logs of this file', linesSince(0))
})

/** Whether a suite (or one inside it) has errors of its own, i.e. from a hook, not a test. */
function hookFailed(suite: Readonly<RunnerTestSuite>): boolean {
  if ((suite.result?.errors?.length ?? 0) > 0) return true
  return suite.tasks.some((t) => t.type === 'suite' && hookFailed(t))
}

/**
 * A root logger for an agent started in this process: JSON lines at `warn` and above, kept for
 * a failing test; or, with `PATINA_TEST_LOG`, printed live at that level.
 */
export function testLogger(base: Record<string, unknown> = {}): AgentDeps['logger'] {
  if (live !== undefined)
    return createLogger(
      { format: 'json', level: live as (typeof LEVELS)[number], colors: false },
      { destination: 2, base },
    )
  return createLogger(
    { format: 'json', level: 'warn', colors: false },
    {
      destination: {
        write(line: string) {
          keep(line)
        },
      },
      base,
    },
  )
}
