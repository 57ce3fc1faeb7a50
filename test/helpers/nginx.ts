/**
 * A real nginx (Debian's `nginx`, installed by scripts/setup.sh) run by a test as a plain
 * process: its own config, pid file, error log and temp folders under the test's folder,
 * listening on a loopback port, `daemon off` so that the test's child is the master process,
 * stopped by that pid. Plus small HTTP backends that answer with their own name.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'

/** The nginx binary: on PATH, or Debian's /usr/sbin/nginx (not on a non-root PATH). */
export function nginxBinary(): string {
  for (const p of (process.env['PATH'] ?? '').split(':').concat('/usr/sbin'))
    if (p && existsSync(join(p, 'nginx'))) return join(p, 'nginx')
  throw new Error("nginx is not installed: run scripts/setup.sh (it installs Debian's nginx when missing)")
}

export interface Nginx {
  child: ChildProcess
  pid: number
  url: string
  /** `nginx ... -s reload` for this instance (the CMD of a template). */
  reloadCommand: string
  errorLog(): string
  stop(): Promise<void>
}

/**
 * Writes `<dir>/nginx.conf` proxying `127.0.0.1:<port>` to `upstream app`, defined in
 * `upstreamsFile` (rendered by a template), checks it with `nginx -t`, and starts nginx.
 */
export async function startNginx(dir: string, port: number, upstreamsFile: string): Promise<Nginx> {
  const bin = nginxBinary()
  mkdirSync(join(dir, 'temp'), { recursive: true })
  const conf = join(dir, 'nginx.conf')
  const errorLog = join(dir, 'error.log')
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
  writeFileSync(
    conf,
    [
      'daemon off;',
      'master_process on;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${errorLog} notice;`,
      // As root, workers would switch to a user that cannot enter the test's 0700 folder.
      process.getuid?.() === 0 ? 'user root;' : '',
      'events { worker_connections 512; }',
      'http {',
      '  access_log off;',
      ...temps.map((t) => `  ${t}_temp_path ${join(dir, 'temp', t)};`),
      `  include ${upstreamsFile};`,
      '  server {',
      `    listen 127.0.0.1:${port};`,
      '    location / { proxy_pass http://app; }',
      '  }',
      '}',
      '',
    ].join('\n'),
  )
  const args = ['-p', dir, '-c', conf, '-e', errorLog]
  const t = spawnSync(bin, [...args, '-t'], { encoding: 'utf8' })
  if (t.status !== 0) throw new Error(`nginx -t refused the test config:\n${t.stderr}`)
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const out: string[] = []
  child.stdout?.on('data', (d: Buffer) => out.push(d.toString()))
  child.stderr?.on('data', (d: Buffer) => out.push(d.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${out.join('')}`)
    if ((await get(url).catch(() => null)) !== null) break
    if (Date.now() > deadline) throw new Error(`nginx did not answer on ${url}: ${out.join('')}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    child,
    pid: child.pid as number,
    url,
    reloadCommand: [bin, ...args, '-s', 'reload'].join(' '),
    errorLog: () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : ''),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGQUIT') // graceful stop of the master this test started
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(t)
    },
  }
}

/**
 * GET on a fresh connection (no keep-alive: a reload closes the old workers' idle connections,
 * and a request racing that close would fail for reasons of the client's pool, not of the
 * switch). Resolves with status and body; rejects on a network error.
 */
export function get(url: string, timeoutMs = 5_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

/** An HTTP server on 127.0.0.1 that answers every request with its name. */
export async function startBackend(
  name: string,
): Promise<{ server: Server; addr: string; hits: () => number }> {
  let hits = 0
  const server = createServer((_req, res) => {
    hits++
    res.writeHead(200, { 'content-type': 'text/plain' }).end(name)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const a = server.address() as AddressInfo
  return { server, addr: `127.0.0.1:${a.port}`, hits: () => hits }
}

/**
 * Sends GETs to `url` from `concurrency` loops until `until()` is true or `maxRequests` were
 * sent (bounded either way); returns every answer and every failure.
 */
export async function requestStream(
  url: string,
  opts: { concurrency: number; maxRequests: number; until: () => boolean },
): Promise<{ bodies: string[]; failures: string[] }> {
  const bodies: string[] = []
  const failures: string[] = []
  let sent = 0
  const loop = async () => {
    while (sent < opts.maxRequests && !opts.until()) {
      sent++
      try {
        const r = await get(url)
        if (r.status === 200) bodies.push(r.body)
        else failures.push(`status ${r.status}: ${r.body.slice(0, 200)}`)
      } catch (e) {
        failures.push((e as Error).message)
      }
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, loop))
  return { bodies, failures }
}
