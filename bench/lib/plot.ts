/**
 * SVG plots for benchmarks, rendered with vega-lite + vega in Node (no browser, no canvas).
 *
 * - {@link cdfPlot}: latency distributions as empirical CDFs (one line per series, log x axis)
 * - {@link linePlot}: y against x per series (e.g. propagation p50/p99 against cluster size)
 * - {@link barPlot}: one bar per label (e.g. throughput per system)
 *
 * Each writes `bench/results/<file>` and returns that path, relative to the repository root.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import { resultsDir } from './report.js'

async function render(file: string, spec: TopLevelSpec): Promise<string> {
  const { spec: vg } = compile(spec)
  const view = new vega.View(vega.parse(vg), { renderer: 'none' })
  const svg = await view.toSVG()
  view.finalize()
  mkdirSync(resultsDir, { recursive: true })
  const path = join(resultsDir, file)
  writeFileSync(path, svg)
  return `bench/results/${file}`
}

/** At most `points` (value, fraction ≤ value) pairs of the empirical CDF of `xs`. */
export function cdfPoints(xs: readonly number[], points = 400): { x: number; p: number }[] {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return []
  const out: { x: number; p: number }[] = []
  const step = Math.max(1, Math.floor(s.length / points))
  for (let i = 0; i < s.length; i += step) out.push({ x: s[i] as number, p: (i + 1) / s.length })
  out.push({ x: s[s.length - 1] as number, p: 1 })
  return out
}

export interface PlotOptions {
  title: string
  xTitle: string
  yTitle?: string
  /** Log scale on x (default true for CDFs). */
  logX?: boolean
  logY?: boolean
  width?: number
  height?: number
}

/** Empirical CDFs of several latency samples. */
export function cdfPlot(
  file: string,
  series: Record<string, readonly number[]>,
  opts: PlotOptions,
): Promise<string> {
  const values = Object.entries(series).flatMap(([name, xs]) =>
    cdfPoints(xs).map((pt) => ({ series: name, x: Math.max(pt.x, 1e-3), p: pt.p })),
  )
  return render(file, {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: opts.title,
    width: opts.width ?? 560,
    height: opts.height ?? 300,
    background: 'white',
    data: { values },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: opts.xTitle,
        scale: opts.logX === false ? { zero: false } : { type: 'log' },
      },
      y: {
        field: 'p',
        type: 'quantitative',
        title: opts.yTitle ?? 'fraction ≤ x',
        scale: { domain: [0, 1] },
      },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        legend: { labelLimit: 480, orient: 'bottom', columns: 1 },
      },
    },
  })
}

/** Lines with points: `rows` of { series, x, y }. */
export function linePlot(
  file: string,
  rows: readonly { series: string; x: number; y: number }[],
  opts: PlotOptions,
): Promise<string> {
  return render(file, {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: opts.title,
    width: opts.width ?? 560,
    height: opts.height ?? 300,
    background: 'white',
    data: { values: rows.filter((r) => Number.isFinite(r.y)) as { series: string; x: number; y: number }[] },
    mark: { type: 'line', point: true },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: opts.xTitle,
        scale: opts.logX === true ? { type: 'log' } : { zero: false },
      },
      y: {
        field: 'y',
        type: 'quantitative',
        title: opts.yTitle ?? '',
        ...(opts.logY === true ? { scale: { type: 'log' } } : {}),
      },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        legend: { labelLimit: 480, orient: 'bottom', columns: 1 },
      },
    },
  })
}

/** Horizontal bars: `rows` of { label, value, group? }. */
export function barPlot(
  file: string,
  rows: readonly { label: string; value: number; group?: string }[],
  opts: PlotOptions,
): Promise<string> {
  return render(file, {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: opts.title,
    width: opts.width ?? 480,
    background: 'white',
    data: {
      values: rows
        .filter((r) => Number.isFinite(r.value))
        .map((r) => ({ label: r.label, value: r.value, group: r.group ?? r.label })),
    },
    mark: 'bar',
    encoding: {
      y: { field: 'label', type: 'nominal', title: null, sort: null },
      x: {
        field: 'value',
        type: 'quantitative',
        title: opts.xTitle,
        ...(opts.logX === true ? { scale: { type: 'log' } } : {}),
      },
      color: { field: 'group', type: 'nominal', title: null, legend: null },
    },
  })
}
