/**
 * Transport-level partitions for a multi-process cluster on loopback, without touching the
 * agents: every worker's gossip port sits behind a TCP proxy of ours, and each worker announces
 * the proxy (`gossip.external_addr`) and bootstraps from the other proxies, so every gossip and
 * sync byte between workers flows through this module.
 *
 * Who is on the other end of an accepted connection is found the way `ss -p` does it: the
 * client socket's inode from `/proc/net/tcp`, then the process holding that inode in its
 * `/proc/<pid>/fd`. Connections from anybody else (a recorder, an intruder) are never cut.
 *
 * - `cut(from, to)`: bytes sent by `from` to `to` are swallowed (one-way; TCP keeps the
 *   connection open, the receiver hears nothing, the other direction still flows).
 * - `isolate` / `partition`: both directions; live connections are destroyed and new ones
 *   refused until `heal()`.
 */
import { createServer, Socket, type Server } from 'node:net'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'

interface Link {
  /** The connecting worker (the dialer), or null when unknown. */
  from: string | null
  /** The proxy's port (to identify the dialer again later). */
  proxyPort: number
  /** The worker behind this proxy. */
  to: string
  client: Socket
  upstream: Socket
}

export interface PartitionNet {
  /** Put a proxy in front of `name`'s gossip port; returns the proxy's port. */
  add(name: string, targetPort: number): Promise<number>
  /** The current process id of `name` (after every (re)start), so its connections are recognised. */
  setPid(name: string, pid: number | undefined): void
  /** One-way: nothing `from` sends reaches `to` (on connections dialed either way). */
  cut(from: string, to: string): void
  /** Both ways between every member of `a` and every member of `b`. */
  partition(a: readonly string[], b: readonly string[]): void
  heal(): void
  /** Pairs currently blocked, as `from->to` (`<->` when both ways). */
  describe(): string[]
  stats(): { connections: number; refused: number; unidentified: number; bytesDropped: number }
  close(): Promise<void>
}

const key = (from: string, to: string): string => `${from}->${to}`

/** Socket inode of the loopback TCP socket whose local port is `localPort` and remote port `remotePort`. */
function findInode(localPort: number, remotePort: number): string | undefined {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10) continue
      const lp = parseInt((f[1] ?? '').split(':')[1] ?? '', 16)
      const rp = parseInt((f[2] ?? '').split(':')[1] ?? '', 16)
      if (lp === localPort && rp === remotePort) return f[9]
    }
  }
  return undefined
}

function pidHolds(pid: number, inode: string): boolean {
  const want = `socket:[${inode}]`
  let fds: string[]
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return false
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === want) return true
    } catch {
      // fd closed meanwhile
    }
  }
  return false
}

export function createPartitionNet(): PartitionNet {
  const servers = new Map<string, { server: Server; port: number }>()
  const pids = new Map<string, number>()
  const oneWay = new Set<string>()
  const twoWay = new Set<string>()
  const links = new Set<Link>()
  const counters = { connections: 0, refused: 0, unidentified: 0, bytesDropped: 0 }

  const identifyNow = (remotePort: number, proxyPort: number): string | null => {
    const inode = findInode(remotePort, proxyPort)
    if (inode === undefined || inode === '0') return null
    for (const [name, pid] of pids) if (pidHolds(pid, inode)) return name
    return null
  }
  const identify = async (client: Socket, proxyPort: number): Promise<string | null> => {
    const remotePort = client.remotePort
    if (remotePort === undefined) return null
    // The entry shows up at once on Linux; retry briefly under load (or before setPid).
    for (let attempt = 0; attempt < 10; attempt++) {
      const who = identifyNow(remotePort, proxyPort)
      if (who !== null) return who
      await new Promise((r) => setTimeout(r, 50))
    }
    return null
  }

  const blockedBoth = (a: string | null, b: string): boolean => a !== null && twoWay.has(key(a, b))
  const dropping = (from: string | null, to: string | null): boolean =>
    from !== null && to !== null && (oneWay.has(key(from, to)) || twoWay.has(key(from, to)))

  const enforce = (): void => {
    for (const l of links) {
      if (l.from === null && l.client.remotePort !== undefined) {
        // a worker that dialed before its pid was known: look again
        l.from = identifyNow(l.client.remotePort, l.proxyPort)
      }
      if (blockedBoth(l.from, l.to)) {
        l.client.destroy()
        l.upstream.destroy()
        links.delete(l)
      }
    }
  }

  return {
    async add(name, targetPort) {
      const server = createServer({ pauseOnConnect: true }, (client) => {
        void (async () => {
          const port = servers.get(name)?.port ?? 0
          const from = await identify(client, port)
          if (from === null) counters.unidentified++
          if (blockedBoth(from, name)) {
            counters.refused++
            client.destroy()
            return
          }
          counters.connections++
          const upstream = new Socket()
          const link: Link = { from, proxyPort: port, to: name, client, upstream }
          links.add(link)
          const drop = (): void => {
            links.delete(link)
            client.destroy()
            upstream.destroy()
          }
          client.on('error', drop).on('close', drop)
          upstream.on('error', drop).on('close', drop)
          client.on('data', (d: Buffer) => {
            if (dropping(link.from, link.to)) counters.bytesDropped += d.byteLength
            else if (!upstream.write(d)) client.pause()
          })
          upstream.on('drain', () => client.resume())
          upstream.on('data', (d: Buffer) => {
            if (dropping(link.to, link.from)) counters.bytesDropped += d.byteLength
            else if (!client.write(d)) upstream.pause()
          })
          client.on('drain', () => upstream.resume())
          upstream.connect(targetPort, '127.0.0.1', () => client.resume())
        })()
      })
      const port = await new Promise<number>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, '127.0.0.1', () => {
          const a = server.address()
          resolve(typeof a === 'object' && a !== null ? a.port : 0)
        })
      })
      servers.set(name, { server, port })
      return port
    },
    setPid(name, pid) {
      if (pid === undefined) pids.delete(name)
      else pids.set(name, pid)
    },
    cut(from, to) {
      oneWay.add(key(from, to))
      enforce()
    },
    partition(a, b) {
      for (const x of a)
        for (const y of b) {
          if (x === y) continue
          twoWay.add(key(x, y))
          twoWay.add(key(y, x))
        }
      enforce()
    },
    heal() {
      oneWay.clear()
      twoWay.clear()
    },
    describe() {
      const out = new Set<string>()
      for (const k of twoWay) {
        const [a = '', b = ''] = k.split('->')
        out.add(a < b ? `${a}<->${b}` : `${b}<->${a}`)
      }
      for (const k of oneWay) out.add(k)
      return [...out].sort()
    },
    stats: () => ({ ...counters }),
    async close() {
      for (const l of links) {
        l.client.destroy()
        l.upstream.destroy()
      }
      links.clear()
      await Promise.all(
        [...servers.values()].map(({ server }) => new Promise<void>((r) => server.close(() => r()))),
      )
      servers.clear()
    },
  }
}
