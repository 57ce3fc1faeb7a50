import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface Row {
  [column: string]: string | number
}

export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results')

export function machine(): Record<string, string | number> {
  return {
    node: process.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  }
}

/** Print a table and write `bench/results/<name>.json`. */
export function report(name: string, rows: Row[], extra: Record<string, unknown> = {}): void {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))]
  const cell = (v: unknown) => (typeof v === 'number' ? fmt(v) : String(v ?? ''))
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)))
  const line = (vals: string[]) => '| ' + vals.map((v, i) => v.padEnd(widths[i] as number)).join(' | ') + ' |'
  console.log(`\n## ${name}\n`)
  console.log(line(cols))
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|')
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))))
  mkdirSync(resultsDir, { recursive: true })
  const file = join(resultsDir, `${name}.json`)
  writeFileSync(file, JSON.stringify({ name, machine: machine(), rows, ...extra }, null, 2) + '\n')
  console.log(`\nwrote ${file}`)
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v)
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US')
  if (Math.abs(v) >= 10) return v.toFixed(1)
  return v.toFixed(3)
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number
}

/** Run `fn` `n` times and return the median of its results. */
export function medianOf(n: number, fn: () => number): number {
  return median(Array.from({ length: n }, fn))
}

export function progress(msg: string): void {
  process.stderr.write(`  … ${msg}\n`)
}
