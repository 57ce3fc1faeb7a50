/** Reading runnable commands out of the README (for the tests that run its sections). */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { CLI, freePort, ROOT } from './process.js'

/** The shell commands of the ```sh blocks between two markers: one per line, a heredoc whole. */
export function sectionCommands(readme: string, start: string, end: string): string[] {
  const from = readme.indexOf(start)
  const to = readme.indexOf(end)
  if (from < 0 || to < from) throw new Error(`README has no section between ${start} and ${end}`)
  const out: string[] = []
  let inBlock = false
  let heredoc: { end: string; lines: string[] } | null = null
  for (const line of readme.slice(from, to).split('\n')) {
    if (heredoc) {
      heredoc.lines.push(line)
      if (line === heredoc.end) {
        out.push(heredoc.lines.join('\n'))
        heredoc = null
      }
    } else if (line.startsWith('```')) inBlock = line === '```sh'
    else if (inBlock && line.trim() !== '') {
      const h = /<<'(\w+)'$/.exec(line)
      if (h) heredoc = { end: h[1] as string, lines: [line] }
      else out.push(line)
    }
  }
  return out
}

/** A base port whose API, gossip and edge ports (base+i, base+100+i, base+200) are all free. */
export async function freeDevBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 12000)
    const ok = [0, 1, 2, 100, 101, 102, 200].every(
      (d) =>
        spawnSync(process.execPath, [
          '-e',
          `require('net').createServer().once('error',()=>process.exit(1)).listen(${base + d},'127.0.0.1',()=>process.exit(0))`,
        ]).status === 0,
    )
    if (ok) return base
  }
  return await freePort()
}

/** Splits a command line into words (double and single quotes, as the README uses them). */
export function shellWords(s: string): string[] {
  const out: string[] = []
  let cur = ''
  let quote: string | null = null
  let any = false
  for (const ch of s) {
    if (quote) {
      if (ch === quote) quote = null
      else cur += ch
    } else if (ch === '"' || ch === "'") {
      quote = ch
      any = true
    } else if (ch === ' ') {
      if (cur || any) out.push(cur)
      cur = ''
      any = false
    } else cur += ch
  }
  if (cur || any) out.push(cur)
  return out
}

/** The program and arguments of one README command: `pnpm patina …` as the CLI from sources, else bash. */
function argv(line: string, background: boolean): [string, string[]] {
  if (line.startsWith('pnpm patina ')) return [process.execPath, [...CLI, ...shellWords(line.slice(12))]]
  return ['bash', ['-c', background ? `exec ${line}` : line]]
}

/** Runs one README command line (paths and ports already adapted) to completion, from the repository root. */
export function runLine(
  line: string,
  timeoutMs = 60_000,
): { status: number | null; stdout: string; stderr: string } {
  const [exe, args] = argv(line, false)
  const r = spawnSync(exe, args, { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Starts one README command line (a trailing ` &` is dropped) in the background; its output is collected. */
export function spawnLine(line: string): { child: ChildProcess; output: string[] } {
  const [exe, args] = argv(line.replace(/ &$/, ''), true)
  const child = spawn(exe, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const output: string[] = []
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()))
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()))
  return { child, output }
}
