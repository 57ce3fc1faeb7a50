/**
 * Third-party daemons for `bench/peers.ts`: installing the Debian packages when missing, and
 * 3-member etcd and NATS JetStream clusters on loopback, started and stopped by pid.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../../test/helpers/process.js'
import { sleep } from './load.js'

function which(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0
}

/** Install the Debian packages providing `bins` (bin → package) when a binary is missing. */
export function ensureDebianPackages(bins: Record<string, string>, log: (m: string) => void): void {
  const missing = Object.entries(bins)
    .filter(([bin]) => !which(bin))
    .map(([, pkg]) => pkg)
  if (missing.length === 0) return
  log(`installing ${missing.join(', ')} (apt-get)`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const sudo = process.getuid?.() === 0 ? [] : ['sudo']
  const run = (args: string[]) => {
    const r = spawnSync(sudo[0] ?? args[0]!, sudo.length ? args : args.slice(1), { env, stdio: 'inherit' })
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed with status ${r.status}`)
  }
  run(['apt-get', 'update', '-qq'])
  run(['apt-get', 'install', '-y', '-qq', ...missing])
}

export interface Daemon {
  name: string
  pid: number
  output: string[]
  stop(): Promise<void>
}

export function startDaemon(name: string, cmd: string, args: string[]): Daemon {
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const output: string[] = []
  const keep = (d: Buffer) => {
    output.push(d.toString())
    if (output.length > 200) output.shift()
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    name,
    pid: child.pid ?? -1,
    output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
}

export interface EtcdCluster {
  clientUrls: string[]
  daemons: Daemon[]
  stop(): Promise<void>
}

/** Three etcd members on loopback, data under `dir`. Resolves once every member answers `/health`. */
export async function startEtcd(dir: string): Promise<EtcdCluster> {
  const names = ['e0', 'e1', 'e2']
  const client = [await freePort(), await freePort(), await freePort()]
  const peer = [await freePort(), await freePort(), await freePort()]
  const initial = names.map((n, i) => `${n}=http://127.0.0.1:${peer[i]}`).join(',')
  const daemons = names.map((n, i) =>
    startDaemon(n, 'etcd', [
      '--name',
      n,
      '--data-dir',
      join(dir, n),
      '--listen-client-urls',
      `http://127.0.0.1:${client[i]}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${client[i]}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${peer[i]}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peer[i]}`,
      '--initial-cluster',
      initial,
      '--initial-cluster-state',
      'new',
      '--initial-cluster-token',
      'patina-bench',
      '--logger',
      'zap',
      '--log-level',
      'error',
      '--quota-backend-bytes',
      String(4 * 2 ** 30),
    ]),
  )
  const clientUrls = client.map((p) => `http://127.0.0.1:${p}`)
  const stop = async () => {
    await Promise.all(daemons.map((d) => d.stop()))
  }
  const deadline = Date.now() + 60_000
  for (const u of clientUrls) {
    for (;;) {
      try {
        const r = await fetch(`${u}/health`)
        const body = (await r.json()) as { health?: string }
        if (body.health === 'true') break
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) {
        await stop()
        throw new Error(`etcd did not become healthy:\n${daemons.map((d) => d.output.join('')).join('\n')}`)
      }
      await sleep(200)
    }
  }
  return { clientUrls, daemons, stop }
}

export interface NatsCluster {
  urls: string[]
  daemons: Daemon[]
  stop(): Promise<void>
}

/** Three nats-server nodes with JetStream, clustered on loopback. */
export async function startNats(dir: string): Promise<NatsCluster> {
  const client = [await freePort(), await freePort(), await freePort()]
  const route = [await freePort(), await freePort(), await freePort()]
  const daemons = [0, 1, 2].map((i) => {
    const home = join(dir, `n${i}`)
    mkdirSync(home, { recursive: true })
    const conf = join(home, 'nats.conf')
    writeFileSync(
      conf,
      [
        `server_name: n${i}`,
        `listen: 127.0.0.1:${client[i]}`,
        `jetstream { store_dir: "${home}" }`,
        'cluster {',
        '  name: patina-bench',
        `  listen: 127.0.0.1:${route[i]}`,
        `  routes: [${route
          .filter((_, j) => j !== i)
          .map((p) => `nats-route://127.0.0.1:${p}`)
          .join(', ')}]`,
        '}',
      ].join('\n'),
    )
    return startDaemon(`n${i}`, 'nats-server', ['-c', conf])
  })
  return {
    urls: client.map((p) => `nats://127.0.0.1:${p}`),
    daemons,
    async stop() {
      await Promise.all(daemons.map((d) => d.stop()))
    },
  }
}
