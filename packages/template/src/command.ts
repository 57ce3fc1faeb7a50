/**
 * Runs a template's command (`sh -c CMD`) after a render that changed its file, with a deadline;
 * reports the exit status and the end of its output for the log.
 */
import { spawn } from 'node:child_process'

export interface CommandResult {
  ok: boolean
  /** Exit code, or null when it was killed by a signal. */
  code: number | null
  signal: NodeJS.Signals | null
  /** True when it was killed for running longer than the deadline. */
  timedOut: boolean
  /** The last bytes of stdout and stderr, interleaved as they came (at most 4 KiB). */
  output: string
  durationMs: number
  /** Set when the shell itself could not be started. */
  spawnError?: string
}

const KEEP_BYTES = 4096

/** Runs `cmd` with `/bin/sh -c`; never rejects. `env` adds to the process environment. */
export function runCommand(
  cmd: string,
  opts: { timeoutMs: number; cwd?: string; env?: Record<string, string> },
): Promise<CommandResult> {
  const started = performance.now()
  return new Promise((resolve) => {
    let out = ''
    let timedOut = false
    const child = spawn('/bin/sh', ['-c', cmd], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const keep = (d: Buffer) => {
      out += d.toString('utf8')
      if (out.length > KEEP_BYTES) out = out.slice(-KEEP_BYTES)
    }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    const timer =
      opts.timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true
            child.kill('SIGKILL')
          }, opts.timeoutMs)
        : undefined
    const done = (r: Omit<CommandResult, 'durationMs' | 'output'>) => {
      if (timer) clearTimeout(timer)
      resolve({ ...r, output: out.trim(), durationMs: performance.now() - started })
    }
    child.once('error', (e) =>
      done({ ok: false, code: null, signal: null, timedOut: false, spawnError: e.message }),
    )
    child.once('close', (code, signal) => done({ ok: code === 0 && !timedOut, code, signal, timedOut }))
  })
}

/** One line saying how a command ended, for logs and error messages. */
export function describeCommandResult(cmd: string, r: CommandResult): string {
  const how = r.spawnError
    ? `could not start: ${r.spawnError}`
    : r.timedOut
      ? `was killed after its deadline (${Math.round(r.durationMs)} ms)`
      : r.code !== null
        ? `exited with status ${r.code}`
        : `was killed by ${r.signal}`
  return `command ${JSON.stringify(cmd)} ${how}${r.output ? `: ${r.output.split('\n').slice(-5).join(' | ')}` : ''}`
}
