/**
 * Address forms accepted in the configuration.
 *
 * Corrosion writes socket addresses as `host:port` (`"[::]:8787"`, `"127.0.0.1:8080"`,
 * `"node-a.internal:8787"`); libp2p speaks multiaddrs (`/ip4/127.0.0.1/tcp/8787`). Gossip
 * addresses accept both; HTTP addresses accept `host:port` only. These helpers are pure.
 */

export interface HostPort {
  /** Host without brackets: `::`, `127.0.0.1`, `node-a.internal`. */
  host: string
  port: number
}

const BRACKETED = /^\[([0-9A-Za-z:.%]+)\]:(\d{1,5})$/
const PLAIN = /^([A-Za-z0-9._-]+):(\d{1,5})$/

/** Parses `host:port` or `[ipv6]:port`; returns null when `addr` is neither or the port is above 65535. */
export function parseHostPort(addr: string): HostPort | null {
  const m = BRACKETED.exec(addr) ?? PLAIN.exec(addr)
  if (!m) return null
  const port = Number(m[2])
  if (port > 65535) return null
  return { host: m[1] ?? '', port }
}

/** Whether `addr` looks like a TCP multiaddr (`/ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>[/p2p/<id>]`). */
export function isTcpMultiaddr(addr: string): boolean {
  return /^\/(ip4|ip6|dns|dns4|dns6)\/[^/]+\/tcp\/\d{1,5}(\/p2p\/[A-Za-z0-9]+)?$/.test(addr)
}

/** Gossip listen or advertised address: `host:port` or a TCP multiaddr. */
export function isGossipAddr(addr: string): boolean {
  return parseHostPort(addr) !== null || isTcpMultiaddr(addr)
}

/**
 * Bootstrap entry: `host:port`, Corrosion's `host:port@dns-server:port` form (the DNS server
 * part is ignored by Patina), or a TCP multiaddr with or without `/p2p/<peer id>`.
 */
export function isBootstrapAddr(addr: string): boolean {
  const at = addr.indexOf('@')
  const main = at >= 0 && !addr.startsWith('/') ? addr.slice(0, at) : addr
  return isGossipAddr(main)
}

function isIPv4(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host)
}

/**
 * The multiaddr for a gossip address: `"[::]:8787"` → `/ip6/::/tcp/8787`,
 * `"127.0.0.1:8787"` → `/ip4/127.0.0.1/tcp/8787`, `"node-a:8787"` → `/dns/node-a/tcp/8787`.
 * Multiaddrs are returned unchanged; the `@dns-server` suffix of a bootstrap entry is dropped.
 */
export function toMultiaddr(addr: string): string {
  if (addr.startsWith('/')) return addr
  const at = addr.indexOf('@')
  const hp = parseHostPort(at >= 0 ? addr.slice(0, at) : addr)
  if (!hp) throw new TypeError(`not a host:port address or multiaddr: ${JSON.stringify(addr)}`)
  const proto = hp.host.includes(':') ? 'ip6' : isIPv4(hp.host) ? 'ip4' : 'dns'
  return `/${proto}/${hp.host}/tcp/${hp.port}`
}

/**
 * The URL a local client uses to reach an HTTP listen address: the unspecified addresses
 * `0.0.0.0` and `::` become the loopback of the same family.
 */
export function httpUrlFor(addr: string): string {
  const hp = parseHostPort(addr)
  if (!hp) throw new TypeError(`not a host:port address: ${JSON.stringify(addr)}`)
  let host = hp.host
  if (host === '0.0.0.0') host = '127.0.0.1'
  if (host === '::' || host === '0:0:0:0:0:0:0:0') host = '::1'
  return `http://${host.includes(':') ? `[${host}]` : host}:${hp.port}`
}
