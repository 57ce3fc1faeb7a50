/**
 * The template runner against a fake client: renders on data changes (debounced), writes only
 * changed text, runs the command after a change only, and keeps the last good file whatever
 * fails (template, query, write, command), saying what failed.
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  chmodSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { TemplateLogger } from '../src/runner.js'
import { createTemplateSet, type TemplateSet } from '../src/set.js'
import { fakeSource } from './fake-source.js'

const ROUTES_TPL = [
  'upstream app {',
  '  <% for (const r of sql("SELECT backend FROM routes WHERE host = ?", ["app"])) { %>',
  '  server <%= r.backend %>;',
  '  <% } %>',
  '}',
  '',
].join('\n')

const until = async (what: string, cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('template runner', () => {
  let dir: string
  let set: TemplateSet | undefined
  const fake = () => fakeSource()
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'patina-tpl-'))
  })
  afterEach(async () => {
    await set?.stop()
    set = undefined
    rmSync(dir, { recursive: true, force: true })
  })
  const paths = () => ({ src: join(dir, 'up.eta'), dst: join(dir, 'up.conf'), log: join(dir, 'cmd.log') })
  const cmdCount = () => {
    try {
      return readFileSync(paths().log, 'utf8').split('\n').filter(Boolean).length
    } catch {
      return 0
    }
  }
  const start = async (
    f: ReturnType<typeof fakeSource>,
    o: { cmd?: string; tpl?: string; watchIntervalMs?: number; logger?: TemplateLogger } = {},
  ) => {
    const p = paths()
    writeFileSync(p.src, o.tpl ?? ROUTES_TPL)
    set = createTemplateSet(
      [{ src: p.src, dst: p.dst, ...(o.cmd !== undefined ? { cmd: o.cmd } : {}) }],
      { debounceMs: 20, maxDelayMs: 200, watchIntervalMs: o.watchIntervalMs ?? 0 },
      { source: f.source, ...(o.logger ? { logger: o.logger } : {}) },
    )
    await set.start()
    return set
  }
  const status = () => set!.health().templates[0]!

  it('renders once the first snapshot arrives, then on every change; the command runs after each change', async () => {
    const f = fake()
    const p = paths()
    await start(f, { cmd: `echo ran >> ${p.log}` })
    await until('the subscription', () => f.opened.length === 1)
    expect(status().state).toBe('waiting')
    expect(() => readFileSync(p.dst)).toThrow() // nothing written before the data is there
    f.opened[0]!.snapshot(['backend'], [['10.0.0.2:80'], ['10.0.0.1:80']])
    await until('the first write', () => status().writes === 1)
    expect(readFileSync(p.dst, 'utf8')).toBe(
      'upstream app {\n  server 10.0.0.1:80;\n  server 10.0.0.2:80;\n}\n',
    )
    expect(cmdCount()).toBe(1)
    f.opened[0]!.set(2, ['10.0.0.3:80'])
    await until('the second write', () => status().writes === 2)
    expect(readFileSync(p.dst, 'utf8')).toContain('server 10.0.0.3:80;')
    expect(cmdCount()).toBe(2)
    expect(status()).toMatchObject({ healthy: true, state: 'ok', commandsOk: 2, errors: 0 })
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]) // no temporary file left
  })

  it('a burst of changes is rendered once (debounced)', async () => {
    const f = fake()
    await start(f)
    await until('subscription', () => f.opened.length === 1)
    f.opened[0]!.snapshot(['backend'], [['a:1']])
    await until('first write', () => status().writes === 1)
    for (let i = 0; i < 500; i++) f.opened[0]!.set(1, [`b:${i}`])
    await until('the burst rendered', () => status().writes === 2)
    await new Promise((r) => setTimeout(r, 100)) // several debounce periods: no further render
    expect(status().renders).toBe(2)
    expect(readFileSync(paths().dst, 'utf8')).toContain('server b:499;')
  })

  it('an identical render writes nothing and runs no command', async () => {
    const f = fake()
    const p = paths()
    await start(f, { cmd: `echo ran >> ${p.log}` })
    await until('subscription', () => f.opened.length === 1)
    f.opened[0]!.snapshot(['backend'], [['a:1'], ['b:1']])
    await until('first write', () => status().writes === 1)
    const mtime = statSync(p.dst).mtimeMs
    // The same rows in another order, and a row replaced by itself: same text.
    f.opened[0]!.set(1, ['b:1'])
    f.opened[0]!.set(2, ['a:1'])
    await until('the second render', () => status().renders === 2)
    expect(status().writes).toBe(1)
    expect(cmdCount()).toBe(1)
    expect(statSync(p.dst).mtimeMs).toBe(mtime)
  })

  it('a file already holding the rendered text is not rewritten at start, and its mode is kept on writes', async () => {
    const f = fake()
    const p = paths()
    writeFileSync(p.dst, 'upstream app {\n  server a:1;\n}\n')
    chmodSync(p.dst, 0o600)
    await start(f, { cmd: `echo ran >> ${p.log}` })
    await until('subscription', () => f.opened.length === 1)
    f.opened[0]!.snapshot(['backend'], [['a:1']])
    await until('first render', () => status().renders === 1)
    expect(status().writes).toBe(0)
    expect(cmdCount()).toBe(0)
    f.opened[0]!.set(1, ['a:2'])
    await until('write', () => status().writes === 1)
    expect(statSync(p.dst).mode & 0o777).toBe(0o600)
  })

  it('a failing command puts the previous file back and says what failed', async () => {
    const f = fake()
    const p = paths()
    // Fails when the new file names 10.0.0.9 (like `nginx -t` refusing a config).
    await start(f, { cmd: `grep -q 10.0.0.9 ${p.dst} && { echo bad upstream >&2; exit 3; } || true` })
    await until('subscription', () => f.opened.length === 1)
    f.opened[0]!.snapshot(['backend'], [['10.0.0.1:80']])
    await until('first write', () => status().writes === 1)
    const good = readFileSync(p.dst, 'utf8')
    f.opened[0]!.set(1, ['10.0.0.9:80'])
    await until('the error', () => status().errors === 1)
    expect(readFileSync(p.dst, 'utf8')).toBe(good)
    expect(status()).toMatchObject({ healthy: false, state: 'error', commandsFailed: 1, writes: 1 })
    expect(status().lastError).toMatch(
      /exited with status 3: bad upstream; the previous .*up\.conf is back in place/,
    )
    f.opened[0]!.set(1, ['10.0.0.5:80'])
    await until('recovery', () => status().writes === 2)
    expect(status().healthy).toBe(true)
  })

  it('a render error keeps the last good file and names the line', async () => {
    const f = fake()
    const p = paths()
    const tpl =
      '<% for (const r of sql("SELECT backend FROM routes")) { %>\nserver <%= nginx(r.backend) %>;\n<% } %>\n'
    await start(f, { tpl })
    await until('subscription', () => f.opened.length === 1)
    f.opened[0]!.snapshot(['backend'], [['ok']])
    await until('first write', () => status().writes === 1)
    f.opened[0]!.set(1, ['cost$5'])
    await until('the error', () => status().errors === 1)
    expect(readFileSync(p.dst, 'utf8')).toBe('server "ok";\n')
    expect(status().lastError).toMatch(/template .*up\.eta line 2: TemplateValueError: nginx: .*holds "\$"/)
  })

  it('a query the server refuses fails the render with the server message; the file is untouched', async () => {
    const f = fake()
    const p = paths()
    writeFileSync(p.dst, 'previous\n')
    await start(f, { tpl: '<%= sql("SELECT * FROM nope").length %>\n' })
    await until('subscription', () => f.opened.length === 1)
    f.opened[0]!.fail('worker http://w1 answered 400: no such table: nope')
    await until('the error', () => status().errors === 1)
    expect(status().lastError).toMatch(/line 1: query "SELECT \* FROM nope" failed: .*no such table: nope/)
    expect(readFileSync(p.dst, 'utf8')).toBe('previous\n')
    expect(f.opened[0]!.closed).toBe(true) // dropped, so a later render subscribes afresh
  })

  it('refuses to start when the output folder does not exist, or the template is missing or broken', async () => {
    const f = fake()
    const p = paths()
    writeFileSync(p.src, ROUTES_TPL)
    const mk = (src: string, dst: string) => createTemplateSet([{ src, dst }], {}, { source: f.source })
    await expect(mk(p.src, join(dir, 'no/such/dir/out.conf')).start()).rejects.toThrow(
      /cannot write .*out\.conf: its folder .*no\/such\/dir does not exist/,
    )
    await expect(mk(join(dir, 'missing.eta'), p.dst).start()).rejects.toThrow(
      /cannot read template .*missing\.eta: no such file/,
    )
    writeFileSync(join(dir, 'bad.eta'), 'a\n<% for ( %>\n')
    await expect(mk(join(dir, 'bad.eta'), p.dst).start()).rejects.toThrow(/template .*bad\.eta line 2/)
  })

  it('an edited template is re-loaded; a broken edit keeps the last good output and says why', async () => {
    const f = fakeSource({ autoSnapshot: () => ({ columns: ['backend'], rows: [['a:1']] }) })
    const p = paths()
    await start(f, { watchIntervalMs: 20 })
    await until('first write', () => status().writes === 1)
    // A broken edit (a different size, so the poll sees it even within one mtime tick).
    writeFileSync(p.src, 'broken <% if ( %>\n')
    await until('the template error', () => status().templateError !== null)
    expect(status().templateError).toMatch(/template .*up\.eta line 1/)
    expect(status().healthy).toBe(false)
    expect(readFileSync(p.dst, 'utf8')).toContain('server a:1;')
    // A fixed edit with another query: re-rendered, the unused subscription is closed.
    writeFileSync(p.src, '<%= sql("SELECT 2").length %> rows\n')
    await until('the new output', () => readFileSync(p.dst, 'utf8') === '1 rows\n')
    await until('healthy again', () => status().healthy)
    expect(f.find('routes')).toEqual([])
    expect(status().subscriptions).toBe(1)
  })

  it('renderOnce waits for the first snapshots, and fails clearly when none comes', async () => {
    const f = fakeSource({ autoSnapshot: () => ({ columns: ['backend'], rows: [['a:1']] }) })
    const p = paths()
    writeFileSync(p.src, ROUTES_TPL)
    const once = createTemplateSet([{ src: p.src, dst: p.dst }], {}, { source: f.source })
    expect(await once.renderOnce(5_000)).toEqual([])
    expect(readFileSync(p.dst, 'utf8')).toContain('server a:1;')
    await once.stop()
    const silent = fakeSource()
    const never = createTemplateSet([{ src: p.src, dst: p.dst }], {}, { source: silent.source })
    const failures = await never.renderOnce(50)
    expect(failures[0]?.error.message).toMatch(/no first snapshot of its queries within 50 ms/)
    await never.stop()
  })

  it('exports metrics and health', async () => {
    const f = fakeSource({ autoSnapshot: () => ({ columns: ['backend'], rows: [['a:1']] }) })
    await start(f)
    await until('first write', () => status().writes === 1)
    const text = await set!.registry.metrics()
    const dst = paths().dst
    expect(text).toContain(`patina_template_renders_total{template="${dst}",result="written"} 1`)
    expect(text).toContain(`patina_template_data_staleness_seconds{template="${dst}"} 0.005`)
    expect(text).toMatch(/patina_template_last_render_timestamp_seconds\{template=".*"\} 1\d{9}/)
    expect(text).toContain(`patina_template_healthy{template="${dst}"} 1`)
    expect(set!.health()).toMatchObject({ ok: true, templates: [{ stale: false, stalenessMs: 5 }] })
  })
  it("logs and counts the command's exit status, ok and failed", async () => {
    const lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = []
    const logger: TemplateLogger = {
      debug: () => {},
      info: (obj, msg) => lines.push({ level: 'info', msg: msg ?? '', obj: obj as Record<string, unknown> }),
      warn: (obj, msg) => lines.push({ level: 'warn', msg: msg ?? '', obj: obj as Record<string, unknown> }),
      error: (obj, msg) =>
        lines.push({ level: 'error', msg: msg ?? '', obj: obj as Record<string, unknown> }),
      child: () => logger,
    }
    const f = fake()
    const p = paths()
    await start(f, { cmd: `grep -q bad ${p.dst} && exit 5 || true`, logger })
    await until('subscription', () => f.opened.length === 1)
    f.opened[0]!.snapshot(['backend'], [['good:1']])
    await until('first write', () => status().writes === 1)
    f.opened[0]!.set(1, ['bad:1'])
    await until('the failed command', () => status().errors === 1)
    const ok = lines.find((l) => l.msg.includes('exited with status 0'))
    expect(ok).toMatchObject({ level: 'info', obj: { code: 0 } })
    expect(status().lastCommand).toMatch(/^command "grep -q bad .*" exited with status 5$/)
    const failed = lines.find((l) => l.level === 'error' && l.obj['stage'] === 'command')
    expect(String(failed?.obj['err'])).toMatch(
      /grep -q bad .*" exited with status 5; the previous .* is back/,
    )
    const text = await set!.registry.metrics()
    const t = `template="${p.dst}"`
    expect(text).toContain(`patina_template_commands_total{${t},result="ok"} 1`)
    expect(text).toContain(`patina_template_commands_total{${t},result="failed"} 1`)
    expect(text).toContain(`patina_template_errors_total{${t},stage="command"} 1`)
    expect(text).toContain(`patina_template_renders_total{${t},result="written"} 1`)
    expect(text).toContain(`patina_template_healthy{${t}} 0`)
    expect(set!.health()).toMatchObject({ ok: false, templates: [{ commandsOk: 1, commandsFailed: 1 }] })
  })
  it('an output folder removed while running: a write error naming it; the next change after it is back writes', async () => {
    const f = fake()
    const p = paths()
    const out = join(dir, 'out')
    mkdirSync(out)
    writeFileSync(p.src, ROUTES_TPL)
    set = createTemplateSet(
      [{ src: p.src, dst: join(out, 'up.conf') }],
      { debounceMs: 20, maxDelayMs: 200, watchIntervalMs: 0 },
      { source: f.source },
    )
    await set.start()
    await until('subscription', () => f.opened.length === 1)
    f.opened[0]!.snapshot(['backend'], [['a:1']])
    await until('first write', () => status().writes === 1)
    rmSync(out, { recursive: true })
    f.opened[0]!.set(1, ['a:2'])
    await until('the write error', () => status().errors === 1)
    expect(status().lastError).toBe(`cannot write ${join(out, 'up.conf')}: its folder ${out} does not exist`)
    expect(await set.registry.metrics()).toContain(
      `patina_template_errors_total{template="${join(out, 'up.conf')}",stage="write"} 1`,
    )
    mkdirSync(out)
    f.opened[0]!.set(1, ['a:3'])
    await until('recovery', () => status().writes === 2)
    expect(readFileSync(join(out, 'up.conf'), 'utf8')).toContain('server a:3;')
    expect(status().healthy).toBe(true)
  })
  it('health turns stale when a subscription stops following its worker, or its data is older than staleAfterMs', async () => {
    const f = fake()
    const p = paths()
    writeFileSync(p.src, ROUTES_TPL)
    set = createTemplateSet(
      [{ src: p.src, dst: p.dst }],
      { debounceMs: 20, maxDelayMs: 200, watchIntervalMs: 0, staleAfterMs: 1_000 },
      { source: f.source },
    )
    await set.start()
    await until('subscription', () => f.opened.length === 1)
    f.opened[0]!.snapshot(['backend'], [['a:1']])
    await until('first write', () => status().writes === 1)
    expect(set.health()).toMatchObject({ ok: true, templates: [{ stale: false, healthy: true }] })
    f.opened[0]!.state = 'reconnecting' // the worker went away; the client is failing over
    f.opened[0]!.lagMs = 400
    expect(set.health()).toMatchObject({ ok: false, templates: [{ stale: true, disconnected: true }] })
    f.opened[0]!.state = 'live'
    f.opened[0]!.lagMs = 2_500 // following, but nothing heard for longer than staleAfterMs
    expect(set.health()).toMatchObject({ ok: false, templates: [{ stale: true, stalenessMs: 2_500 }] })
    expect(await set.registry.metrics()).toContain(
      `patina_template_data_staleness_seconds{template="${p.dst}"} 2.5`,
    )
    f.opened[0]!.lagMs = null // never heard: unknown age
    expect(set.health()).toMatchObject({ ok: false, templates: [{ stale: true, stalenessMs: null }] })
    expect(await set.registry.metrics()).toContain(
      `patina_template_data_staleness_seconds{template="${p.dst}"} -1`,
    )
    f.opened[0]!.lagMs = 10
    expect(set.health()).toMatchObject({ ok: true, templates: [{ stale: false, healthy: true }] })
  })
})
