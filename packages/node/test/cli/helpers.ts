import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecResponse, JsonStatement, MembersResponse, QueryEvent } from '@patina/api'
import { afterEach, beforeEach } from 'vitest'
import type { AdminServer } from '../../src/admin/index.js'
import type { CliApi, CliApiOptions, CliSubscriptionStream } from '../../src/cli/api.js'
import type { CliDeps } from '../../src/cli/context.js'
import { runCli } from '../../src/cli/program.js'

export interface FakeApiCalls {
  created: CliApiOptions[]
  transactions: JsonStatement[][]
  queries: JsonStatement[]
  subscribes: { statement: JsonStatement; opts: unknown }[]
  resumes: { id: string; from?: number }[]
  closed: number
}

export interface FakeApiBehaviour {
  exec?: (statements: JsonStatement[]) => ExecResponse
  query?: (statement: JsonStatement) => QueryEvent[]
  members?: () => MembersResponse
  /** Each call to subscribe/subscription takes the next script: events, then an optional error. */
  streams?: { id: string; events: QueryEvent[]; error?: unknown }[]
  /** Errors thrown by subscription() calls, in order (undefined = succeed). */
  resumeErrors?: unknown[]
}

export function fakeStream(
  id: string,
  events: QueryEvent[],
  error: unknown,
  startFrom: number | null,
): CliSubscriptionStream {
  let last = startFrom
  return {
    id,
    get lastChangeId() {
      return last
    },
    close() {},
    async *[Symbol.asyncIterator]() {
      for (const ev of events) {
        if ('eoq' in ev && ev.eoq.change_id !== undefined) last = ev.eoq.change_id
        if ('change' in ev) last = ev.change[3]
        yield ev
      }
      if (error !== undefined) throw error
    },
  }
}

export function fakeApi(b: FakeApiBehaviour = {}): {
  create: (o: CliApiOptions) => CliApi
  calls: FakeApiCalls
} {
  const calls: FakeApiCalls = {
    created: [],
    transactions: [],
    queries: [],
    subscribes: [],
    resumes: [],
    closed: 0,
  }
  const streams = [...(b.streams ?? [])]
  const resumeErrors = [...(b.resumeErrors ?? [])]
  const nextStream = (from: number | null) => {
    const s = streams.shift()
    if (!s) throw new Error('no more scripted streams')
    return fakeStream(s.id, s.events, s.error, from)
  }
  const api: CliApi = {
    async transaction(statements) {
      calls.transactions.push(statements)
      return (
        b.exec?.(statements) ?? {
          results: statements.map(() => ({ rows_affected: 1, time: 0.001 })),
          time: 0.002,
          version: 1,
          actor_id: 'a',
        }
      )
    },
    async query(statement) {
      calls.queries.push(statement)
      const events = b.query?.(statement) ?? []
      return (async function* () {
        yield* events
      })()
    },
    async subscribe(statement, opts) {
      calls.subscribes.push({ statement, opts })
      return nextStream(null)
    },
    async subscription(id, opts) {
      calls.resumes.push(opts?.from === undefined ? { id } : { id, from: opts.from })
      const err = resumeErrors.shift()
      if (err !== undefined) throw err
      return nextStream(opts?.from ?? null)
    },
    async members() {
      return b.members?.() ?? { members: [] }
    },
    async close() {
      calls.closed++
    },
  }
  return {
    calls,
    create: (o) => {
      calls.created.push(o)
      return api
    },
  }
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export async function run(argv: string[], over: Partial<CliDeps> & { cwd: string }): Promise<RunResult> {
  let stdout = ''
  let stderr = ''
  const deps: CliDeps = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    shutdown: new AbortController().signal,
    createApi: fakeApi().create,
    ...over,
  }
  const code = await runCli(argv, deps)
  return { code, stdout, stderr }
}

/**
 * Per test: a fresh temporary directory (`dir`), and the admin server a test may start
 * (`admin`), closed after it.
 */
export function cliTestState(): { dir: string; admin: AdminServer | undefined } {
  const state: { dir: string; admin: AdminServer | undefined } = { dir: '', admin: undefined }
  beforeEach(() => {
    state.dir = mkdtempSync(join(tmpdir(), 'patina-cli-'))
  })
  afterEach(async () => {
    await state.admin?.close()
    state.admin = undefined
    rmSync(state.dir, { recursive: true, force: true })
  })
  return state
}
