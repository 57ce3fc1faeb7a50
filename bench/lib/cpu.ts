/**
 * CPU time (user + system) of processes and all their descendants, read from /proc: a worker
 * started through a launcher (`node --import tsx …`, a shell) counts its real server process too.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

interface Stat {
  ppid: number
  cpuMs: number
}

/** `/proc/<pid>/stat` fields after the command name (which may hold spaces and parentheses). */
function stat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
    // state is f[0], ppid f[1], utime f[11], stime f[12] (man 5 proc, fields 3, 4, 14, 15)
    return { ppid: Number(f[1]), cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK }
  } catch {
    return undefined // exited meanwhile
  }
}

/** CPU ms used so far by one process alone. */
export function processCpuMs(pid: number): number {
  return stat(pid)?.cpuMs ?? NaN
}

/** CPU ms used so far by `roots` and every live descendant of theirs. */
export function treeCpuMs(roots: readonly number[]): number {
  const children = new Map<number, number[]>()
  const cpu = new Map<number, number>()
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    if (!Number.isInteger(pid)) continue
    const s = stat(pid)
    if (s === undefined) continue
    cpu.set(pid, s.cpuMs)
    children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid])
  }
  let total = 0
  const todo = [...roots]
  const seen = new Set<number>()
  while (todo.length > 0) {
    const pid = todo.pop() as number
    if (seen.has(pid)) continue
    seen.add(pid)
    total += cpu.get(pid) ?? 0
    todo.push(...(children.get(pid) ?? []))
  }
  return total
}
