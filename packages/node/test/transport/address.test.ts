import { describe, expect, it } from 'vitest'
import { toMultiaddrString } from '../../src/transport/address.js'

describe('addresses', () => {
  it.each([
    ['127.0.0.1:8787', '/ip4/127.0.0.1/tcp/8787'],
    ['[::]:8787', '/ip6/::/tcp/8787'],
    ['[::1]:1', '/ip6/::1/tcp/1'],
    ['0.0.0.0:0', '/ip4/0.0.0.0/tcp/0'],
    ['node-1.internal:4001', '/dns/node-1.internal/tcp/4001'],
    ['/ip4/10.0.0.1/tcp/1/p2p/12D3KooWabc', '/ip4/10.0.0.1/tcp/1/p2p/12D3KooWabc'],
  ])('%s → %s', (input, want) => {
    expect(toMultiaddrString(input)).toBe(want)
  })
  it.each(['127.0.0.1', '::1:80', '[::1]80', '1.2.3.4:99999', '300.1.1.1:1', 'bad host:1', ':80'])(
    'refuses %s',
    (input) => {
      expect(() => toMultiaddrString(input, 'gossip.addr')).toThrow(/gossip.addr/)
    },
  )
})
