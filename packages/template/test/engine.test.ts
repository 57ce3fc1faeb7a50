import { describe, expect, it } from 'vitest'
import { compileTemplate, HELPER_NAMES, TemplateError, type TemplateHelpers } from '../src/engine.js'
import { nginxString, toJson } from '../src/format.js'
import { buildResult } from '../src/result.js'

const helpers = (over: Partial<TemplateHelpers> = {}): TemplateHelpers => ({
  ...(Object.fromEntries(HELPER_NAMES.map((n) => [n, () => ''])) as TemplateHelpers),
  json: toJson,
  nginx: nginxString,
  ...over,
})
const render = (src: string, over: Partial<TemplateHelpers> = {}) =>
  compileTemplate(src, '/t/x.eta').render(helpers(over))

describe('compileTemplate', () => {
  it('writes values as text (no HTML escaping), null as empty, and raw with <%~', () => {
    expect(render('<%= "<a & b>" %>|<%= null %>|<%~ "x" %>|<%= 3 %>')).toBe('<a & b>||x|3')
  })

  it('a line holding only a <% %> tag leaves no blank line; values keep their line breaks', () => {
    const src = [
      'upstream app {',
      '  <% for (const r of sql()) { %>',
      '  server <%= r.backend %>;',
      '  <% } %>',
      '}',
      '',
    ].join('\n')
    const rows = buildResult(['backend'], [['10.0.0.2:80'], ['10.0.0.1:80']])
    expect(render(src, { sql: () => rows })).toBe(
      'upstream app {\n  server 10.0.0.1:80;\n  server 10.0.0.2:80;\n}\n',
    )
  })

  it('a tag sharing its line with text keeps the line', () => {
    expect(render('a <% if (true) { %>b<% } %> c\nd')).toBe('a b c\nd')
    expect(render('<% const x = 1 %>\nx=<%= x %>\n')).toBe('x=1\n')
  })

  it('helpers are in scope by name', () => {
    expect(render('<%= json({ a: 1 }) %> <%= nginx("x y") %>')).toBe('{"a":1} "x y"')
  })

  it('a JavaScript syntax error names the file and the template line', () => {
    const src = 'line one\nline two\n<% if ( { %>\nx\n'
    expect(() => compileTemplate(src, '/t/bad.eta')).toThrow(TemplateError)
    expect(() => compileTemplate(src, '/t/bad.eta')).toThrow(/^template \/t\/bad\.eta line 3: /)
  })

  it('an unclosed tag names the line', () => {
    expect(() => compileTemplate('a\nb <% x', '/t/u.eta')).toThrow(
      /template \/t\/u\.eta line 2: .*unclosed tag/,
    )
  })

  it('a runtime error names the line and the error', () => {
    const t = compileTemplate('ok\n<%= nothing.here %>\n', '/t/r.eta')
    let err: unknown
    try {
      t.render(helpers())
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(TemplateError)
    expect((err as TemplateError).line).toBe(2)
    expect((err as Error).message).toMatch(
      /^template \/t\/r\.eta line 2: ReferenceError: nothing is not defined/,
    )
  })

  it('statement lines trimmed above an error do not shift its line number', () => {
    const src = 'a\n  <% const x = 1 %>\n<% if (x) { %>\n<%= missing %>\n<% } %>\n'
    expect(() => render(src)).toThrow(/line 4: ReferenceError: missing is not defined/)
  })

  it('a value a helper refuses becomes a template error on its line', () => {
    expect(() => render('\n\n<%= nginx("a$b") %>')).toThrow(
      /line 3: TemplateValueError: nginx: .* holds "\$"/,
    )
  })
})
