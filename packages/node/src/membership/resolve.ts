/**
 * Bootstrap entries to dialable addresses, resolved again on every attempt (as Corrosion
 * does), through the system resolver (`getaddrinfo`: `/etc/hosts`, then DNS; no cache of our
 * own), so that a seed that comes back under the same name at a new address is found.
 *
 * - `host:port` with an IP host, and multiaddrs without a DNS part: unchanged.
 * - `host:port` with a name (and Corrosion's `host:port@dns-server:port`, whose DNS server part
 *   is ignored): one `ip:port` per address the name resolves to.
 * - `/dns|dns4|dns6/<name>/tcp/<port>[/p2p/<id>]`: one `/ip4|ip6/…` multiaddr per address.
 * - anything else (in-memory transport names): unchanged.
 *
 * A name that does not resolve gives no address (the attempt fails and is retried later).
 */
import { lookup } from 'node:dns/promises'
import { parseHostPort } from '../config/addr.js'

/** Entry → addresses to dial, in order. */
export type Resolver = (entry: string) => Promise<string[]>

/** Host name → IP addresses (v4 and v6). */
export type HostLookup = (host: string, family: 0 | 4 | 6) => Promise<string[]>

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/
const DNS_MULTIADDR = /^\/(dns|dns4|dns6)\/([^/]+)\/tcp\/(\d{1,5})(\/p2p\/[A-Za-z0-9]+)?$/

export const systemLookup: HostLookup = async (host, family) =>
  (await lookup(host, { all: true, family })).map((a) => a.address)

/** A resolver over `hostLookup` (the system's by default). */
export function createResolver(hostLookup: HostLookup = systemLookup): Resolver {
  const names = async (host: string, family: 0 | 4 | 6): Promise<string[]> => {
    try {
      return [...new Set(await hostLookup(host, family))]
    } catch {
      return []
    }
  }
  return async (entry) => {
    const m = DNS_MULTIADDR.exec(entry)
    if (m !== null) {
      const [, proto, host, port, p2p] = m as unknown as [string, string, string, string, string | undefined]
      const family = proto === 'dns4' ? 4 : proto === 'dns6' ? 6 : 0
      return (await names(host, family)).map(
        (ip) => `/${ip.includes(':') ? 'ip6' : 'ip4'}/${ip}/tcp/${port}${p2p ?? ''}`,
      )
    }
    if (entry.startsWith('/')) return [entry]
    const at = entry.indexOf('@')
    const main = at >= 0 ? entry.slice(0, at) : entry
    const hp = parseHostPort(main)
    if (hp === null) return [entry]
    if (hp.host.includes(':') || IPV4.test(hp.host)) return [main]
    return (await names(hp.host, 0)).map((ip) =>
      ip.includes(':') ? `[${ip}]:${hp.port}` : `${ip}:${hp.port}`,
    )
  }
}
