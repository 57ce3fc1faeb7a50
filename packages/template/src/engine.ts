/**
 * The template engine: Eta (https://eta.js.org), ERB-style tags as in Corrosion's templates:
 * `<% code %>` runs JavaScript, `<%= value %>` writes a value as text (no HTML escaping: these
 * are config files), `<%~ value %>` writes it raw. A line holding only a `<% %>` tag leaves no
 * blank line behind (Jinja's trim_blocks + lstrip_blocks), so loops read naturally.
 *
 * The helpers (`sql`, `json`, `nginx`, ...) are in scope by name. Rendering is synchronous:
 * `sql()` reads a live view that is already in memory (see `queries.ts`).
 */
import { Script } from 'node:vm'
import { Eta, type TemplateFunction } from 'eta'
import { PatinaError } from '@patina/api'
import { toText } from './format.js'

/** The names a template sees; `TemplateHelpers` gives them their values. */
export const HELPER_NAMES = ['sql', 'json', 'csv', 'nginx', 'haproxy', 'isNull', 'text', 'hostname'] as const
export type TemplateHelpers = Record<(typeof HELPER_NAMES)[number], unknown>

/**
 * A `<% %>` tag alone on its line (blanks around it) leaves no blank line: its indentation and
 * its line break move inside the tag, where they are JavaScript whitespace. Moving them (rather
 * than removing them) keeps every line number, so errors still name the right line.
 */
const STATEMENT_LINE =
  /^([ \t]*)<%([-_]?)(?![-_]?\s*[=~])((?:(?!%>)[\s\S])*?)([-_]?)%>([ \t]*)(\r?\n|(?![\s\S]))/gm

export function trimStatementLines(source: string): string {
  return source.replace(
    STATEMENT_LINE,
    (_m, indent: string, wsl: string, body: string, wsr: string, trail: string, nl: string) =>
      `<%${wsl}${indent}${body}${trail}${nl}${wsr}%>`,
  )
}

const eta = new Eta({
  autoEscape: false,
  autoFilter: true,
  filterFunction: toText,
  autoTrim: false,
  cache: false,
  debug: true,
  functionHeader: `const { ${HELPER_NAMES.join(', ')} } = it;`,
  plugins: [{ processTemplate: (source) => trimStatementLines(source) }],
})

/** A template that failed to compile or render: `PATINA_ERR_TEMPLATE`, naming the file and line. */
export class TemplateError extends PatinaError {
  /** The template line the error is on, when known. */
  readonly line: number | undefined
  constructor(message: string, opts: { line?: number; cause?: unknown } = {}) {
    super('PATINA_ERR_TEMPLATE', message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'TemplateError'
    this.line = opts.line
  }
}

export interface CompiledTemplate {
  /** Renders with these helpers; throws what a helper threw, or a {@link TemplateError}. */
  render(helpers: TemplateHelpers): string
}

/** The template line of a syntax error in Eta's generated code (its `__eta.line=N` markers). */
function syntaxErrorLine(source: string, file: string): number | undefined {
  let body: string
  try {
    body = eta.compileToString(source, { filepath: file })
  } catch {
    return undefined
  }
  try {
    new Script(`(function (it, options) {\n${body}\n})`, { filename: 'template' })
    return undefined
  } catch (e) {
    const m = /^template:(\d+)/.exec(String((e as Error).stack))
    if (!m) return undefined
    const lines = body.split('\n').slice(0, Number(m[1]) - 1)
    for (let i = lines.length - 1; i >= 0; i--) {
      const l = /^__eta\.line=(\d+)/.exec(lines[i] ?? '')
      if (l) return Number(l[1])
    }
    return undefined
  }
}

const firstLine = (s: string): string => s.split('\n').find((l) => l.trim() !== '') ?? s

/** Compiles template text; throws {@link TemplateError} naming `file` and the line. */
export function compileTemplate(source: string, file: string): CompiledTemplate {
  let fn: TemplateFunction
  try {
    fn = eta.compile(source, { filepath: file })
  } catch (e) {
    const err = e as Error
    // Eta's own parse errors carry "at line N col M"; JavaScript syntax errors do not.
    const at = /line (\d+) col (\d+)/.exec(err.message)
    const line = at ? Number(at[1]) : syntaxErrorLine(source, file)
    const why = err.message.replace(/^Bad template syntax\s*/, '').trim()
    throw new TemplateError(
      `template ${file}${line !== undefined ? ` line ${line}` : ''}: ${firstLine(why)}`,
      line === undefined ? { cause: e } : { line, cause: e },
    )
  }
  return {
    render(helpers) {
      try {
        return fn.call(eta, helpers, { filepath: file })
      } catch (e) {
        const err = e as Error
        // Eta wraps runtime errors: "file:line\n<context>\n\n<message>", the original as `cause`.
        const cause = err.cause instanceof Error ? err.cause : err
        const m = /:(\d+)\n/.exec(err.message)
        const line = m ? Number(m[1]) : undefined
        const where = `template ${file}${line !== undefined ? ` line ${line}` : ''}`
        // A helper's own typed error (a refused query, no worker) keeps its code.
        if (cause instanceof PatinaError && !(cause instanceof TemplateError))
          throw new PatinaError(cause.code, `${where}: ${cause.message}`, { cause })
        throw new TemplateError(
          `${where}: ${cause.name}: ${cause.message}`,
          line === undefined ? { cause } : { line, cause },
        )
      }
    },
  }
}
