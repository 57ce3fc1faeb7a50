/**
 * One template at work: loads and compiles the template file (and re-loads it when it is
 * edited), renders it from live queries whenever their data changes (debounced), writes the
 * file atomically when its text changed, then runs the command. Whatever fails — the template,
 * a query, the write, the command — the last good file stays in place and the failure is
 * logged, counted and shown in the status.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { PatinaError } from '@patina/api'
import { describeCommandResult, runCommand } from './command.js'
import { renderDueAt, type DebounceOptions } from './debounce.js'
import { compileTemplate, TemplateError, type CompiledTemplate, type TemplateHelpers } from './engine.js'
import { haproxyString, isNull, nginxString, toJson, toText, toCsv as csvOf } from './format.js'
import type { ErrorStage, TemplateMetrics } from './metrics.js'
import { checkOutputFolder, readCurrent, restore, TemplateOutputError, writeAtomic } from './output.js'
import { createQuerySet, type QuerySet, type RenderPass, type WatchSource } from './queries.js'
import type { QueryResult } from './result.js'
import type { TemplateSpec } from './spec.js'

/** Minimal logger (pino's `Logger` fits). */
export interface TemplateLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  child(bindings: Record<string, unknown>): TemplateLogger
}

export interface RunnerOptions extends DebounceOptions {
  /** Deadline of the command, in ms (killed after it). */
  commandTimeoutMs: number
  /** How often the template file is checked for edits, in ms; 0 = not watched. */
  watchIntervalMs: number
}

export interface TemplateStatus {
  name: string
  src: string
  dst: string
  cmd: string | null
  /** `starting`; `waiting` for the first snapshot of a query; `ok`; `error` (see `lastError`). */
  state: 'starting' | 'waiting' | 'ok' | 'error'
  renders: number
  writes: number
  errors: number
  commandsOk: number
  commandsFailed: number
  /** How the last command ended (`command "..." exited with status 0`); null before the first. */
  lastCommand: string | null
  /** Wall-clock ms of the last complete render (written or unchanged). */
  lastRenderAt: number | null
  lastWriteAt: number | null
  lastError: string | null
  lastErrorAt: number | null
  /** The template file does not load (the last good one is still used). */
  templateError: string | null
  stalenessMs: number | null
  /** A query of the last render is not following its worker now (reconnecting, failed). */
  disconnected: boolean
  subscriptions: number
  /** The template loads, and its last render succeeded. */
  healthy: boolean
}

export interface TemplateRunner {
  readonly name: string
  /** Loads the template and checks the output folder (throws a clear error), then renders on every change. */
  start(): Promise<void>
  /** Loads, renders once (waiting up to `timeoutMs` for the queries' first snapshots), writes, runs the command; throws on any failure. */
  renderOnce(timeoutMs: number): Promise<'written' | 'unchanged'>
  status(): TemplateStatus
  stop(): Promise<void>
}

export interface RunnerDeps {
  source: WatchSource
  logger: TemplateLogger
  metrics: TemplateMetrics
  now: () => number
}

/** Thrown inside a cycle to end it with a counted error. */
class CycleError extends Error {
  constructor(
    readonly stage: ErrorStage,
    readonly error: Error,
  ) {
    super(error.message)
  }
}

const stageOf = (e: unknown): ErrorStage =>
  e instanceof TemplateError || !(e instanceof PatinaError) ? 'render' : 'query'

export function createTemplateRunner(
  spec: TemplateSpec & { name: string },
  opts: RunnerOptions,
  deps: RunnerDeps,
): TemplateRunner {
  const { name } = spec
  const log = deps.logger.child({ template: name })
  const queries: QuerySet = createQuerySet(deps.source, () => schedule())
  let compiled: CompiledTemplate | null = null
  let loadedText: string | null = null
  /** What `dst` holds, as far as we know (what we wrote, or found at start). */
  let current: string | null = null
  let stopped = false
  let firstChangeAt: number | null = null
  let lastChangeAt = 0
  let timer: NodeJS.Timeout | undefined
  let busy: Promise<void> | null = null
  let again = false
  const st: Omit<TemplateStatus, 'stalenessMs' | 'disconnected' | 'subscriptions' | 'healthy'> = {
    name,
    src: spec.src,
    dst: spec.dst,
    cmd: spec.cmd ?? null,
    state: 'starting',
    renders: 0,
    writes: 0,
    errors: 0,
    commandsOk: 0,
    commandsFailed: 0,
    lastCommand: null,
    lastRenderAt: null,
    lastWriteAt: null,
    lastError: null,
    lastErrorAt: null,
    templateError: null,
  }

  const failed = (stage: ErrorStage, e: Error): void => {
    st.errors++
    st.state = 'error'
    st.lastError = e.message
    st.lastErrorAt = deps.now()
    deps.metrics.errors.inc({ template: name, stage })
    log.error(
      { stage, err: e.message, dst: spec.dst },
      `template ${name}: ${stage} failed; ${spec.dst} keeps its last good content`,
    )
  }

  /** Reads and compiles the template file; throws a TemplateError naming the file. */
  const load = async (): Promise<boolean> => {
    let text: string
    try {
      text = await readFile(spec.src, 'utf8')
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message
      throw new TemplateError(`cannot read template ${spec.src}: ${why}`, { cause: e })
    }
    if (text === loadedText) return false
    compiled = compileTemplate(text, spec.src)
    loadedText = text
    st.templateError = null
    return true
  }

  const helpers = (pass: RenderPass): TemplateHelpers => ({
    sql: (q: unknown, p?: unknown) => pass.sql(q, p),
    json: (v: unknown, o?: { pretty?: boolean }) => toJson(v, o?.pretty === true),
    csv: (r: QueryResult) => csvOf(r.columns, r.cells),
    nginx: nginxString,
    haproxy: haproxyString,
    isNull,
    text: toText,
    hostname,
  })

  /**
   * Renders until no query is pending: `waitMs` null = return 'pending' at once (a first
   * snapshot will schedule another render); a number = wait for the snapshots that long.
   */
  const render = async (waitMs: number | null): Promise<string | 'pending'> => {
    const deadline = waitMs === null ? 0 : deps.now() + waitMs
    for (let passes = 0; ; passes++) {
      const tpl = compiled
      if (tpl === null)
        throw new CycleError('template', new TemplateError(`template ${spec.src} is not loaded`))
      const pass = queries.begin()
      let text: string
      try {
        text = tpl.render(helpers(pass))
      } catch (e) {
        throw new CycleError(stageOf(e), e as Error)
      }
      const pending = pass.pending()
      if (pending === null) {
        pass.commit()
        return text
      }
      if (waitMs === null) {
        void pending.then(() => schedule())
        return 'pending'
      }
      const left = deadline - deps.now()
      const timedOut = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(true), Math.max(0, left))
        void pending.then(() => {
          clearTimeout(t)
          resolve(false)
        })
      })
      if (timedOut || passes >= 20)
        throw new CycleError(
          'query',
          new PatinaError(
            'PATINA_ERR_NO_WORKER',
            `template ${spec.src}: ${timedOut ? `no first snapshot of its queries within ${waitMs} ms (is a worker reachable?)` : 'its queries kept changing over 20 passes'}`,
          ),
        )
    }
  }

  /** One render → write → command cycle. */
  const cycle = async (waitMs: number | null): Promise<'written' | 'unchanged' | 'pending'> => {
    const text = await render(waitMs)
    if (text === 'pending') {
      if (st.state === 'starting') st.state = 'waiting'
      return 'pending'
    }
    st.renders++
    st.lastRenderAt = deps.now()
    if (text === current) {
      deps.metrics.renders.inc({ template: name, result: 'unchanged' })
      st.state = st.templateError === null ? 'ok' : 'error'
      log.debug({}, 'rendered; unchanged')
      return 'unchanged'
    }
    try {
      await writeAtomic(spec.dst, text)
    } catch (e) {
      throw new CycleError('write', e as Error)
    }
    if (spec.cmd !== undefined) {
      const r = await runCommand(spec.cmd, {
        timeoutMs: opts.commandTimeoutMs,
        env: { PATINA_TEMPLATE_DST: spec.dst, PATINA_TEMPLATE_SRC: spec.src },
      })
      const line = describeCommandResult(spec.cmd, r)
      st.lastCommand = line
      deps.metrics.commands.inc({ template: name, result: r.ok ? 'ok' : 'failed' })
      if (!r.ok) {
        st.commandsFailed++
        let restored = `the previous ${spec.dst} is back in place`
        try {
          await restore(spec.dst, current)
          if (current === null) restored = `${spec.dst} is removed (there was none before)`
        } catch (e) {
          restored = `putting the previous ${spec.dst} back failed too: ${(e as Error).message}`
        }
        throw new CycleError(
          'command',
          new PatinaError('PATINA_ERR_TEMPLATE_COMMAND', `${line}; ${restored}`),
        )
      }
      st.commandsOk++
      log.info({ cmd: spec.cmd, code: r.code, duration_ms: Math.round(r.durationMs) }, line)
    }
    current = text
    st.writes++
    st.lastWriteAt = deps.now()
    deps.metrics.renders.inc({ template: name, result: 'written' })
    st.state = st.templateError === null ? 'ok' : 'error'
    log.info({ dst: spec.dst, bytes: Buffer.byteLength(text) }, 'rendered and written')
    return 'written'
  }

  const runCycle = async (): Promise<void> => {
    try {
      await cycle(null)
    } catch (e) {
      if (e instanceof CycleError) failed(e.stage, e.error)
      else failed('render', e as Error)
    }
  }

  const kick = (): void => {
    if (stopped) return
    if (busy) {
      again = true
      return
    }
    busy = runCycle().finally(() => {
      busy = null
      if (again) {
        again = false
        schedule()
      }
    })
  }

  function schedule(): void {
    if (stopped) return
    const now = deps.now()
    firstChangeAt ??= now
    lastChangeAt = now
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(
      () => {
        timer = undefined
        firstChangeAt = null
        kick()
      },
      Math.max(0, renderDueAt(firstChangeAt, lastChangeAt, opts) - now),
    )
  }

  const onTemplateFile = (cur: Stats, prev: Stats): void => {
    if (stopped || (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size)) return
    load().then(
      (changed) => {
        if (!changed) return
        log.info({ src: spec.src }, 'template file changed; re-rendering')
        schedule()
      },
      (e: Error) => {
        st.templateError = e.message
        failed('template', e)
        log.warn({ src: spec.src }, 'the edited template does not load; the last good one stays in use')
      },
    )
  }

  const prepare = async (): Promise<void> => {
    await load()
    await checkOutputFolder(spec.dst)
    current = await readCurrent(spec.dst)
  }

  return {
    name,
    async start() {
      await prepare()
      if (opts.watchIntervalMs > 0)
        watchFile(spec.src, { interval: opts.watchIntervalMs, persistent: false }, onTemplateFile)
      kick()
    },
    async renderOnce(timeoutMs) {
      await prepare()
      try {
        const r = await cycle(timeoutMs)
        return r === 'pending' ? 'unchanged' : r
      } catch (e) {
        const err = e instanceof CycleError ? e.error : (e as Error)
        failed(e instanceof CycleError ? e.stage : 'render', err)
        throw err
      }
    },
    status() {
      const stalenessMs = queries.stalenessMs()
      return {
        ...st,
        stalenessMs,
        disconnected: queries.disconnected(),
        subscriptions: queries.size(),
        healthy: st.state === 'ok' && st.templateError === null,
      }
    },
    async stop() {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      unwatchFile(spec.src, onTemplateFile)
      await busy
      await queries.close()
    },
  }
}

export { TemplateOutputError }
