/**
 * `SRC:DST[:CMD]`, Corrosion's template argument: the template file, the file to render, and an
 * optional shell command to run after each render that changed the file. Pure.
 */
import { PatinaError } from '@patina/api'

export interface TemplateSpec {
  /** The template file (Eta). */
  src: string
  /** The file the rendered text is written to (atomically). */
  dst: string
  /** Shell command run (`sh -c`) after a render that changed `dst`; none when undefined. */
  cmd?: string
}

/**
 * Splits `SRC:DST[:CMD]` at its first two colons (the command may hold colons of its own).
 * Throws `PATINA_ERR_PARAM_INVALID` naming the argument and the part that is missing.
 */
export function parseTemplateSpec(arg: string): TemplateSpec {
  const i = arg.indexOf(':')
  const j = i < 0 ? -1 : arg.indexOf(':', i + 1)
  const src = i < 0 ? arg : arg.slice(0, i)
  const dst = i < 0 ? '' : j < 0 ? arg.slice(i + 1) : arg.slice(i + 1, j)
  const cmd = j < 0 ? undefined : arg.slice(j + 1).trim()
  const bad = (what: string) =>
    new PatinaError(
      'PATINA_ERR_PARAM_INVALID',
      `template argument ${JSON.stringify(arg)}: ${what}; expected SRC:DST[:CMD], e.g. upstreams.eta:/etc/nginx/conf.d/upstreams.conf:"nginx -s reload"`,
    )
  if (src.trim() === '') throw bad('the template file (SRC) is missing')
  if (dst.trim() === '') throw bad('the output file (DST) is missing')
  if (cmd !== undefined && cmd === '') throw bad('the command after the second ":" is empty')
  return cmd === undefined ? { src, dst } : { src, dst, cmd }
}
