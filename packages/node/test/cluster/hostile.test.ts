/**
 * Hostile gossip over real libp2p: an attacker connected to a node publishes malformed,
 * oversized, truncated, wrong-cluster, wrong-version and wrong-kind messages, and opens
 * bad sync and probe streams. Every one is dropped and counted; state is unchanged and
 * the node keeps working.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { encodeChangeset, type FullChangeset } from '@patina/core'
import { Packr } from 'msgpackr'
import { createLibp2pTransport } from '../../src/transport/libp2p.js'
import type { Transport } from '../../src/transport/transport.js'
import { MessageKind, PROTOCOL_VERSION, encodeEnvelope } from '../../src/wire/envelope.js'
import { changesTopic } from '../../src/broadcast/broadcaster.js'
import { membershipTopic } from '../../src/membership/membership.js'
import { SYNC_PROTOCOL } from '../../src/sync/session.js'
import { converged, dump, makeNode, metricValue, waitFor, write, type TestNode } from '../helpers.js'

const nodes: TestNode[] = []
const transports: Transport[] = []
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.cluster.stop().catch(() => undefined)))
  for (const n of nodes.splice(0)) n.engine.close()
  await Promise.all(transports.splice(0).map((t) => t.stop()))
})

const packr = new Packr({ useRecords: false })
const hostPort = (t: Transport): string =>
  `127.0.0.1:${/\/tcp\/(\d+)/.exec(t.addresses().find((a) => a.includes('127.0.0.1')) ?? '')?.[1] ?? ''}`

describe('hostile gossip', () => {
  it('drops and counts malformed, oversized, truncated, wrong-cluster, wrong-version and wrong-kind messages', async () => {
    const victim = makeNode('victim', createLibp2pTransport({ listen: ['127.0.0.1:0'] }), {})
    const peer = makeNode('peer', createLibp2pTransport({ listen: ['127.0.0.1:0'] }), {})
    nodes.push(victim, peer)
    await victim.cluster.start()
    await peer.cluster.start()
    // peer joins the victim
    await peer.transport.dial(hostPort(victim.transport))
    write(victim, 'INSERT INTO kv (k, v) VALUES (1, ?)', ['before'])
    await waitFor(
      'initial convergence',
      () => converged([victim, peer]) && dump(peer.engine).includes('before'),
    )
    const before = dump(victim.engine)

    const attacker = createLibp2pTransport({ listen: ['127.0.0.1:0'], maxMessageBytes: 8 * 1024 * 1024 })
    transports.push(attacker)
    await attacker.start()
    const changes = changesTopic('test')
    const members = membershipTopic('test')
    attacker.subscribe(changes)
    attacker.subscribe(members)
    await attacker.dial(hostPort(victim.transport))

    const good: FullChangeset = {
      kind: 'full',
      actorId: '0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b',
      version: 1,
      ts: Date.now() * 1000,
      seqStart: 0,
      seqEnd: 0,
      lastSeq: 0,
      changes: [
        { table: 'kv', pk: new Uint8Array([1, 2, 3]), cid: 'v', val: 'evil', colVersion: 99, cl: 1, seq: 0 },
      ],
    }
    const valid = encodeEnvelope('test', MessageKind.Changes, [encodeChangeset(good)])
    const cases: {
      name: string
      topic: string
      data: Uint8Array
      metric: [string, Record<string, string>]
    }[] = [
      {
        name: 'random bytes',
        topic: changes,
        data: new Uint8Array([0xc1, 0xff, 0x00, 0x13]),
        metric: ['patina_gossip_messages_rejected_total', { channel: 'changes', reason: 'malformed' }],
      },
      {
        name: 'not an envelope',
        topic: changes,
        data: packr.pack({ hello: 'world' }),
        metric: ['patina_gossip_messages_rejected_total', { channel: 'changes', reason: 'malformed' }],
      },
      {
        name: 'truncated',
        topic: changes,
        data: valid.subarray(0, Math.floor(valid.byteLength / 2)),
        metric: ['patina_gossip_messages_rejected_total', { channel: 'changes', reason: 'malformed' }],
      },
      {
        name: 'oversized',
        topic: changes,
        data: new Uint8Array(2 * 1024 * 1024).fill(0x90),
        metric: ['patina_gossip_messages_rejected_total', { channel: 'changes', reason: 'oversized' }],
      },
      {
        name: 'wrong cluster',
        topic: changes,
        data: encodeEnvelope('other', MessageKind.Changes, [encodeChangeset(good)]),
        metric: ['patina_gossip_messages_rejected_total', { channel: 'changes', reason: 'wrong_cluster' }],
      },
      {
        name: 'wrong version',
        topic: changes,
        data: packr.pack([PROTOCOL_VERSION + 1, 'test', MessageKind.Changes, [encodeChangeset(good)]]),
        metric: ['patina_gossip_messages_rejected_total', { channel: 'changes', reason: 'wrong_version' }],
      },
      {
        name: 'wrong kind',
        topic: changes,
        data: encodeEnvelope('test', MessageKind.SyncEnd, { changesets: 0 }),
        metric: ['patina_gossip_messages_rejected_total', { channel: 'changes', reason: 'wrong_kind' }],
      },
      {
        name: 'garbage changeset inside a valid envelope',
        topic: changes,
        data: encodeEnvelope('test', MessageKind.Changes, [new Uint8Array([1, 2, 3])]),
        metric: ['patina_changesets_invalid_total', { source: 'gossip' }],
      },
      {
        // the attacker is no member: its changesets are held, never applied, then dropped
        name: 'changeset from a publisher that is no member, impersonating a live worker',
        topic: changes,
        data: encodeEnvelope('test', MessageKind.Changes, [
          encodeChangeset({
            ...good,
            actorId: peer.engine.actorId,
            changes: [{ ...good.changes[0]!, table: 'nope' }],
          }),
        ]),
        metric: [
          'patina_gossip_messages_rejected_total',
          { channel: 'changes', reason: 'unknown_publisher' },
        ],
      },
      {
        name: 'membership garbage',
        topic: members,
        data: encodeEnvelope('test', MessageKind.Membership, { u: [{ t: 'alive', m: { actorId: 5 } }] }),
        metric: ['patina_gossip_messages_rejected_total', { channel: 'membership', reason: 'malformed' }],
      },
      {
        name: 'membership of another cluster',
        topic: members,
        data: encodeEnvelope('other', MessageKind.Membership, { u: [] }),
        metric: ['patina_gossip_messages_rejected_total', { channel: 'membership', reason: 'wrong_cluster' }],
      },
    ]
    for (const c of cases) {
      const [name, labels] = c.metric
      const start = await metricValue(victim.registry, name, labels)
      // gossipsub may need a moment to put the attacker in the victim's mesh: publish until counted
      await waitFor(`victim to count "${c.name}"`, async () => {
        await attacker.publish(c.topic, c.data)
        await new Promise((r) => setTimeout(r, 50))
        return (await metricValue(victim.registry, name, labels)) > start
      })
    }

    // a sync request from another cluster and a garbage sync request are refused and counted
    for (const [data, reason] of [
      [encodeEnvelope('other', MessageKind.SyncRequest, new Uint8Array(4)), 'wrong_cluster'],
      [encodeEnvelope('test', MessageKind.SyncRequest, new Uint8Array([9, 9, 9])), 'malformed'],
    ] as const) {
      const s = await attacker.openStream(victim.transport.peerId, SYNC_PROTOCOL)
      await s.send(data)
      await s.close()
      for await (const _ of s.frames()) {
        /* the victim answers with a rejection and closes */
      }
      expect(
        await metricValue(victim.registry, 'patina_gossip_messages_rejected_total', {
          channel: 'sync',
          reason,
        }),
      ).toBeGreaterThan(0)
    }

    // state untouched (the "unknown table" changeset was refused), and the node still works
    expect(dump(victim.engine)).toBe(before)
    expect(dump(victim.engine)).not.toContain('evil')
    write(peer, 'INSERT INTO kv (k, v) VALUES (2, ?)', ['after'])
    await waitFor('a valid write after the attack', () => dump(victim.engine).includes('after'))
  }, 60_000)
})
