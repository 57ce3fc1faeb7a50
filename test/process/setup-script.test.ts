/**
 * `scripts/setup.sh` end to end on a machine made of stubs: apt-get, npm, pnpm, docker and
 * dockerd record what they are asked and "install" by putting further stubs on the PATH, so the
 * script runs every branch of a fresh machine in well under a second. The PATH holds only these
 * stubs and the few system tools the script uses, so a step that calls something that does not
 * exist (a helper renamed in a merge, say) fails here as it would on a newcomer's machine.
 */
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/process.js'

/** System tools setup.sh runs (besides the stubbed ones), linked into the stub PATH. */
const SYSTEM_TOOLS = ['bash', 'env', 'mktemp', 'dirname', 'id', 'tail', 'seq', 'sleep', 'grep', 'chmod']

/** Stubs a package "installs": name → script body (run by /bin/sh). */
const PACKAGE_BINS: Record<string, Record<string, string>> = {
  'g++': { 'g++': 'exit 0' },
  make: { make: 'exit 0' },
  python3: { python3: 'exit 0' },
  curl: { curl: 'echo "Features: alt-svc HTTP2 HTTPS-proxy IPv6"' },
  'docker.io': {
    dockerd: 'exit 0',
    docker: [
      'echo "docker $*" >> "$REC"',
      'case "$1" in',
      '  info) [ -e "$STUB_DIR/dockerd-started" ] ;;',
      '  compose) [ -e "$STUB_BIN/docker-compose" ] ;;',
      'esac',
    ].join('\n'),
  },
  'docker-compose': { 'docker-compose': 'exit 0' },
  nginx: { nginx: 'exit 0' },
}

/** setup.sh also looks for nginx at /usr/sbin/nginx, outside the stub PATH: this machine's answer. */
const HOST_HAS_NGINX = existsSync('/usr/sbin/nginx')

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

interface Machine {
  checkout: string
  bin: string
  rec: string
}

function writeStub(bin: string, name: string, body: string): void {
  const path = join(bin, name)
  writeFileSync(path, `#!/bin/sh\n${body}\n`)
  chmodSync(path, 0o755)
}

/**
 * A fresh machine: Node only. `has` pre-installs packages; `failInstall` makes `apt-get
 * install` of that package fail as apt does.
 */
function machine(
  opts: { has?: string[]; pnpm?: boolean; betterSqliteBuilt?: boolean; failInstall?: string } = {},
): Machine {
  const root = mkdtempSync(join(tmpdir(), 'patina-setup-'))
  dirs.push(root)
  const checkout = join(root, 'checkout')
  const bin = join(root, 'bin')
  const rec = join(root, 'calls.txt')
  mkdirSync(join(checkout, 'scripts'), { recursive: true })
  mkdirSync(bin)
  writeFileSync(join(checkout, 'scripts/setup.sh'), readFileSync(join(ROOT, 'scripts/setup.sh')))
  writeFileSync(rec, '')
  for (const tool of SYSTEM_TOOLS) {
    const found = spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim()
    if (found === '') throw new Error(`the test needs ${tool} on this machine`)
    symlinkSync(found, join(bin, tool))
  }
  symlinkSync(process.execPath, join(bin, 'node'))
  writeStub(bin, 'sudo', 'exec "$@"')
  // setup starts dockerd with `sh -c 'nohup dockerd >/var/log/...'`: recorded, never run (the
  // log path is the real machine's).
  writeStub(
    bin,
    'sh',
    'case "$2" in *dockerd*) echo "sh -c $2" >> "$REC"; : > "$STUB_DIR/dockerd-started" ;; *) exec /bin/sh "$@" ;; esac',
  )
  const installs = Object.entries(PACKAGE_BINS)
    .map(([pkg, bins]) => {
      const writes = Object.entries(bins)
        .map(
          ([name, body]) =>
            `printf '%s\\n' '#!/bin/sh' '${body.replaceAll("'", "'\\''")}' > "$STUB_BIN/${name}"; chmod 755 "$STUB_BIN/${name}"`,
        )
        .join('; ')
      return `    ${pkg}) ${writes} ;;`
    })
    .join('\n')
  writeStub(
    bin,
    'apt-get',
    [
      'echo "apt-get $*" >> "$REC"',
      '[ "$1" = update ] && exit 0',
      'for p in "$@"; do',
      '  case "$p" in -*|install) continue ;; esac',
      ...(opts.failInstall === undefined
        ? []
        : [`  [ "$p" = '${opts.failInstall}' ] && { echo "E: Unable to locate package $p"; exit 100; }`]),
      '  case "$p" in',
      installs,
      '  esac',
      'done',
    ].join('\n'),
  )
  const pnpmStub = ['echo "pnpm $*" >> "$REC"', '[ "$1" = --version ] && echo 10.34.9', 'exit 0'].join('\n')
  writeStub(
    bin,
    'npm',
    [
      'echo "npm $*" >> "$REC"',
      '[ "$1" = prefix ] && { echo "$STUB_DIR"; exit 0; }',
      `case "$*" in *pnpm@10.34.9*) printf '%s\\n' '#!/bin/sh' '${pnpmStub.replaceAll("'", "'\\''")}' > "$STUB_BIN/pnpm"; chmod 755 "$STUB_BIN/pnpm" ;; esac`,
    ].join('\n'),
  )
  if (opts.pnpm === true) writeStub(bin, 'pnpm', pnpmStub)
  for (const pkg of opts.has ?? [])
    for (const [name, body] of Object.entries(PACKAGE_BINS[pkg] ?? {})) writeStub(bin, name, body)
  if (opts.betterSqliteBuilt === true) {
    const release = join(
      checkout,
      'node_modules/.pnpm/better-sqlite3@12.0.0/node_modules/better-sqlite3/build/Release',
    )
    mkdirSync(release, { recursive: true })
    writeFileSync(join(release, 'better_sqlite3.node'), '')
  }
  return { checkout, bin, rec }
}

function setup(m: Machine, ...args: string[]) {
  const r = spawnSync(join(m.bin, 'bash'), [join(m.checkout, 'scripts/setup.sh'), ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: {
      PATH: m.bin,
      HOME: m.checkout,
      TMPDIR: join(m.bin, '..'),
      STUB_BIN: m.bin,
      STUB_DIR: join(m.bin, '..'),
      REC: m.rec,
    },
  })
  return {
    code: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    calls: readFileSync(m.rec, 'utf8').trim().split('\n').filter(Boolean),
  }
}

describe('scripts/setup.sh', () => {
  it('on a fresh machine with --docker: every step runs, says what it does, and ends with what to run next', () => {
    const r = setup(machine(), '--docker')
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    for (const line of lines) expect(line).toMatch(/^(\[setup\] | {2}(bin\/patina|pnpm test) )/)
    const done = lines.filter((l) => / done in \d+ s$/.test(l)).map((l) => l.replace(/: done in \d+ s$/, ''))
    expect(done).toEqual([
      "[setup] updating apt's package lists (a few seconds)",
      '[setup] installing the native build toolchain: g++, make, python3 (about a minute)',
      ...(HOST_HAS_NGINX ? [] : ['[setup] installing nginx, for the template tests (a few seconds)']),
      '[setup] installing curl with HTTP/2 support (a few seconds)',
      '[setup] installing pnpm 10.34.9 (a few seconds)',
      '[setup] installing the workspace dependencies; the first time this compiles better-sqlite3 from source (about a minute, more on a busy machine)',
      '[setup] installing docker.io (about a minute)',
      '[setup] starting dockerd (a few seconds)',
      '[setup] installing docker-compose (about a minute)',
    ])
    expect(lines).toContain('[setup] docker is ready')
    expect(r.calls.filter((c) => /^(apt-get|pnpm install|npm install)/.test(c))).toEqual([
      'apt-get update',
      'apt-get install -y --no-install-recommends g++ make python3',
      ...(HOST_HAS_NGINX ? [] : ['apt-get install -y --no-install-recommends nginx']),
      'apt-get install -y --no-install-recommends curl',
      'npm install -g --no-fund --no-audit pnpm@10.34.9',
      'pnpm install --frozen-lockfile',
      'apt-get install -y --no-install-recommends docker.io',
      'apt-get install -y --no-install-recommends docker-compose',
    ])
    expect(r.calls).toContain('sh -c nohup dockerd >/var/log/patina-dockerd.log 2>&1 &')
  })

  it('on a machine that has everything: installs nothing but the workspace, in seconds', () => {
    const r = setup(
      machine({ has: ['g++', 'make', 'python3', 'nginx', 'curl'], pnpm: true, betterSqliteBuilt: true }),
    )
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.calls.filter((c) => !c.startsWith('pnpm --version'))).toEqual(['pnpm install --frozen-lockfile'])
    expect(r.stdout).toMatch(
      /^\[setup\] installing the workspace dependencies \(a few seconds\): done in \d+ s$/m,
    )
  })

  it('a failing step stops setup with its exit code, names the step and shows the end of the log', () => {
    const r = setup(machine({ failInstall: 'g++' }))
    expect(r.code).toBe(100)
    expect(r.stdout).toMatch(
      /^\[setup\] FAILED after \d+ s: installing the native build toolchain: g\+\+, make, python3 \(about a minute\) \(exit code 100\)/m,
    )
    expect(r.stderr).toContain('E: Unable to locate package g++')
    expect(r.calls.some((c) => c.startsWith('pnpm') || c.startsWith('npm'))).toBe(false)
  })
})
