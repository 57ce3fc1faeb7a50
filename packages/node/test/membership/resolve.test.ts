import { describe, expect, it } from 'vitest'
import { createResolver, systemLookup, type HostLookup } from '../../src/membership/resolve.js'

const hosts: Record<string, string[]> = {
  'seed.test': ['127.0.0.2', '::1'],
  'v4only.test': ['127.0.0.3'],
}
const calls: string[] = []
const fake: HostLookup = async (host, family) => {
  calls.push(`${host}/${family}`)
  const all = hosts[host]
  if (all === undefined)
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
  return all.filter((a) => family === 0 || (family === 6) === a.includes(':'))
}

describe('bootstrap entry resolution', () => {
  const resolve = createResolver(fake)

  it.each([
    ['127.0.0.1:8787', ['127.0.0.1:8787']],
    ['[::1]:8787', ['[::1]:8787']],
    ['seed.test:8787', ['127.0.0.2:8787', '[::1]:8787']],
    ['seed.test:8787@10.0.0.53:53', ['127.0.0.2:8787', '[::1]:8787']], // Corrosion's DNS-server suffix is ignored
    ['missing.test:8787', []],
    ['/ip4/127.0.0.1/tcp/8787', ['/ip4/127.0.0.1/tcp/8787']],
    ['/dns4/seed.test/tcp/9/p2p/12D3KooWabc', ['/ip4/127.0.0.2/tcp/9/p2p/12D3KooWabc']],
    ['/dns6/seed.test/tcp/9', ['/ip6/::1/tcp/9']],
    ['/dns/v4only.test/tcp/9', ['/ip4/127.0.0.3/tcp/9']],
    ['n0', ['n0']], // an in-memory transport name
  ])('%s → %j', async (entry, want) => {
    expect(await resolve(entry)).toEqual(want)
  })

  it('resolves again on every attempt (no cache): a name that moves is followed', async () => {
    const before = calls.length
    expect(await resolve('v4only.test:1')).toEqual(['127.0.0.3:1'])
    hosts['v4only.test'] = ['127.0.0.4']
    expect(await resolve('v4only.test:1')).toEqual(['127.0.0.4:1'])
    expect(calls.length - before).toBe(2)
  })

  it('the system resolver finds localhost on loopback (getaddrinfo, /etc/hosts)', async () => {
    const addrs = await createResolver(systemLookup)('localhost:8787')
    expect(addrs.length).toBeGreaterThan(0)
    for (const a of addrs) expect(a).toMatch(/^(127\.\d+\.\d+\.\d+|\[::1\]):8787$/)
  })
})
