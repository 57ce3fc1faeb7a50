/**
 * Address forms accepted in configuration (pure string handling, no libp2p import):
 * - multiaddrs, passed through: `/ip4/127.0.0.1/tcp/8787`, `/ip4/.../tcp/8787/p2p/12D3Koo...`
 * - Corrosion-style `host:port`: `127.0.0.1:8787`, `[::]:8787`, `[::1]:8787`, `node-1.internal:8787`
 *   (a name becomes `/dns/<name>/tcp/<port>`).
 */
import { PatinaError } from '@patina/api'

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/

function invalid(key: string, value: string, why: string): PatinaError {
  return new PatinaError(
    'PATINA_ERR_CONFIG_INVALID',
    `${key} value "${value}" is not a valid address: ${why}; use host:port (e.g. "127.0.0.1:8787", "[::]:8787") or a multiaddr ("/ip4/127.0.0.1/tcp/8787")`,
  )
}

/** Converts a `host:port` or multiaddr string to a multiaddr string. `key` names the option in errors. */
export function toMultiaddrString(value: string, key = 'address'): string {
  const v = value.trim()
  if (v.startsWith('/')) {
    if (v.length < 3 || v.includes('//')) throw invalid(key, value, 'malformed multiaddr')
    return v
  }
  let host: string
  let portText: string
  if (v.startsWith('[')) {
    const close = v.indexOf(']')
    if (close < 0 || v[close + 1] !== ':') throw invalid(key, value, 'IPv6 hosts are written [addr]:port')
    host = v.slice(1, close)
    portText = v.slice(close + 2)
    if (!host.includes(':')) throw invalid(key, value, `"${host}" is not an IPv6 address`)
  } else {
    const colon = v.lastIndexOf(':')
    if (colon <= 0) throw invalid(key, value, 'missing :port')
    host = v.slice(0, colon)
    portText = v.slice(colon + 1)
    if (host.includes(':')) throw invalid(key, value, 'IPv6 hosts must be bracketed, e.g. [::1]:8787')
  }
  if (!/^\d{1,5}$/.test(portText)) throw invalid(key, value, `port "${portText}" is not a number`)
  const port = Number(portText)
  if (port > 65535) throw invalid(key, value, `port ${port} is above 65535`)
  if (host.includes(':')) return `/ip6/${host}/tcp/${port}`
  const m = IPV4.exec(host)
  if (m !== null) {
    if (m.slice(1).some((o) => Number(o) > 255)) throw invalid(key, value, `"${host}" is not an IPv4 address`)
    return `/ip4/${host}/tcp/${port}`
  }
  if (!HOSTNAME.test(host)) throw invalid(key, value, `"${host}" is not a host name`)
  return `/dns/${host}/tcp/${port}`
}

/** The `/p2p/<id>` component of a multiaddr string, if any. */
export function peerIdOfMultiaddr(ma: string): string | null {
  const m = /\/p2p\/([^/]+)/.exec(ma)
  return m === null ? null : (m[1] ?? null)
}

/** Whether `value` looks like a bare peer id rather than an address. */
export function isBarePeerId(value: string): boolean {
  return (
    !value.includes('/') && !value.includes(':') && /^[1-9A-HJ-NP-Za-km-z]{30,}$|^b[a-z2-7]{50,}$/.test(value)
  )
}
