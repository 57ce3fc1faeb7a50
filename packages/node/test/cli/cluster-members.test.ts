/** `patina cluster members`: the members table, raw JSON, and how current the node is. */
import type { MembersResponse } from '@patina/api'
import { describe, expect, it } from 'vitest'
import { cliTestState, fakeApi, run } from './helpers.js'

const t = cliTestState()

describe('cluster members', () => {
  it('prints a table of members, or the raw JSON', async () => {
    const members = {
      members: [
        {
          actor_id: 'a1',
          peer_id: 'p1',
          gossip_addrs: ['/ip4/127.0.0.1/tcp/1'],
          api_addr: '127.0.0.1:8080',
          region: 'ams',
          role: 'worker' as const,
          incarnation: 0,
          state: 'alive' as const,
          rtt_ms: null,
          self: true,
        },
        {
          actor_id: 'a2',
          peer_id: 'p2',
          gossip_addrs: ['/ip4/127.0.0.1/tcp/2'],
          api_addr: null,
          region: 'iad',
          role: 'worker' as const,
          incarnation: 3,
          state: 'suspect' as const,
          rtt_ms: 1.234,
          self: false,
        },
      ],
    }
    const f = fakeApi({ members: () => members })
    const r = await run(['cluster', 'members'], { cwd: t.dir, createApi: f.create })
    expect(r.code).toBe(0)
    const lines = r.stdout.split('\n')
    expect(lines[0]).toMatch(/^actor_id \| state +\| region \| api_addr +\| gossip_addrs +\| rtt_ms \| self$/)
    expect(lines[2]).toMatch(
      /^a1 +\| alive +\| ams +\| 127\.0\.0\.1:8080 \| \/ip4\/127\.0\.0\.1\/tcp\/1 \| NULL +\| \*$/,
    )
    expect(lines[3]).toMatch(/^a2 +\| suspect \| iad +\| NULL +\| \/ip4\/127\.0\.0\.1\/tcp\/2 \| 1\.2$/)
    expect(lines[4]).toBe('(2 members)')
    const j = await run(['cluster', 'members', '--json'], { cwd: t.dir, createApi: f.create })
    expect(JSON.parse(j.stdout)).toEqual(members)
  })

  it('says how current the node is, and warns when it is isolated', async () => {
    const self = {
      actor_id: 'a1',
      peer_id: 'p1',
      gossip_addrs: [],
      api_addr: null,
      region: 'ams',
      role: 'worker' as const,
      incarnation: 0,
      state: 'alive' as const,
      rtt_ms: null,
      self: true,
    }
    let answer: MembersResponse = {
      members: [self],
      isolated: false,
      last_contact_ms: 250,
      reachable_members: 1,
    }
    const f = fakeApi({ members: () => answer })
    let r = await run(['cluster', 'members'], { cwd: t.dir, createApi: f.create })
    expect(r.stdout.split('\n').at(-2)).toBe(
      '1 other member reachable; last heard from another member 250 ms ago',
    )
    answer = { members: [self], isolated: true, last_contact_ms: 42_100, reachable_members: 0 }
    r = await run(['cluster', 'members'], { cwd: t.dir, createApi: f.create })
    expect(r.code).toBe(0)
    expect(r.stdout.split('\n').at(-2)).toBe(
      'WARNING: this node is isolated: no other member is reachable (last heard from another member 42.1 s ago); its writes stay local and its data may be stale until it reconnects',
    )
    answer = { members: [self], isolated: true, last_contact_ms: null, reachable_members: 0 }
    r = await run(['cluster', 'members'], { cwd: t.dir, createApi: f.create })
    expect(r.stdout).toContain('(never heard from another member)')
  })
})
