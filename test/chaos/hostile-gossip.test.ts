/**
 * Hostile gossip and sync against real agents (two in-process workers over libp2p on
 * loopback), from an attacker that speaks the documented wire protocol (docs/protocol.md):
 * random and mutated message bytes (fast-check), changesets for unknown tables and columns,
 * values of the wrong type (NULL into NOT NULL, a primary-key column as a cell), malformed
 * primary keys and seq ranges, forged versions (far in the future, unsafe integers, zero,
 * negative), replayed and reordered messages, and random sync frames. Nothing crashes, valid
 * writes keep flowing both ways, the replicas stay identical, the bookkeeping has no gap for
 * any real actor, and the refusals are counted in metrics.
 *
 * Complements packages/node/test/cluster/hostile.test.ts (one case per envelope check).
 *
 * Not covered because it fails today (reported, see docs/reliability.md "Known gaps"): a peer
 * that publishes a changeset under ANOTHER real actor's id (e.g. version 2^40 of a live worker)
 * is applied by the receivers but never by the impersonated worker, which takes its own
 * actor's versions only from itself, so the replicas stay different for good.
 */
import { createRequire } from 'node:module'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeChangeset, packPk, type Change, type FullChangeset } from '@patina/core'
import { createLibp2pTransport, type Agent, type Transport } from '@patina/node'
import { exec, queryRows, startCluster, waitFor, type TestCluster } from '../helpers/cluster.js'

const RUNS = Number(process.env['PATINA_HOSTILE_RUNS'] ?? 60)

// msgpackr is a dependency of @patina/node (the wire format), not of the test package.
const nodeRequire = createRequire(new URL('../../packages/node/package.json', import.meta.url))
const { Packr } = nodeRequire('msgpackr') as {
  Packr: new (o: object) => { pack(v: unknown): Uint8Array }
}
const packr = new Packr({ useRecords: false })

const PROTOCOL_VERSION = 1
const KIND = { Changes: 1, Membership: 2, SyncRequest: 3 } as const
const SYNC_PROTOCOL = '/patina/sync/1'

let cluster: TestCluster
let victim: Agent
let peer: Agent
let attacker: Transport
let clusterId: string
let changesTopic: string
let membersTopic: string

const envelope = (kind: number, body: unknown, cid = clusterId): Uint8Array =>
  packr.pack([PROTOCOL_VERSION, cid, kind, body])

const FAKE_ACTOR = '0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b'

function changeset(over: Partial<FullChangeset> = {}, change: Partial<Change> = {}): FullChangeset {
  return {
    kind: 'full',
    actorId: FAKE_ACTOR,
    version: 1,
    ts: Date.now() * 1000,
    seqStart: 0,
    seqEnd: 0,
    lastSeq: 0,
    changes: [
      {
        table: 'tests',
        pk: packPk([500]),
        cid: 'text',
        val: 'forged',
        colVersion: 1,
        cl: 1,
        seq: 0,
        ...change,
      },
    ],
    ...over,
  }
}

/** Encodes with the core codec when it accepts the value, else hand-packs the same fields. */
function encode(cs: FullChangeset): Uint8Array {
  try {
    return encodeChangeset(cs)
  } catch {
    return packr.pack(cs)
  }
}

async function metric(a: Agent, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = a.registry.getSingleMetric(name)
  if (m === undefined) return 0
  const data = await m.get()
  return data.values
    .filter((v) =>
      Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want),
    )
    .reduce((s, v) => s + v.value, 0)
}

async function dump(a: Agent): Promise<string> {
  return JSON.stringify(await queryRows(a.apiUrl, 'SELECT id, text FROM tests ORDER BY id'))
}

/** Publishes until gossipsub has the attacker in the victim's mesh (the first messages may go nowhere). */
async function publish(data: Uint8Array, topic = changesTopic): Promise<void> {
  await attacker.publish(topic, data)
}

/** Real actors (the two workers) must have no gap and no partial version. */
function realActorsConsistent(a: Agent): void {
  const s = a.engine.syncState()
  for (const actor of [victim.engine.actorId, peer.engine.actorId]) {
    expect(s.need[actor] ?? [], `gaps of ${actor} on ${a.engine.actorId}`).toEqual([])
    expect(Object.keys(s.partialNeed[actor] ?? {}), `partials of ${actor}`).toEqual([])
  }
}

async function roundTrip(tag: string): Promise<void> {
  // valid writes still flow both ways and the replicas agree
  const { version: v1 } = await exec(victim.apiUrl, [
    ['INSERT OR REPLACE INTO tests (id, text) VALUES (?, ?)', [1, `v-${tag}`]],
  ])
  const { version: v2 } = await exec(peer.apiUrl, [
    ['INSERT OR REPLACE INTO tests (id, text) VALUES (?, ?)', [2, `p-${tag}`]],
  ])
  await waitFor(
    `${tag}: writes cross both ways`,
    () =>
      peer.engine.contains(victim.engine.actorId, v1 as number) &&
      victim.engine.contains(peer.engine.actorId, v2 as number),
    60_000,
  )
  await waitFor(`${tag}: replicas agree`, async () => (await dump(victim)) === (await dump(peer)), 60_000)
}

beforeAll(async () => {
  cluster = await startCluster(2)
  victim = cluster.agents[0] as Agent
  peer = cluster.agents[1] as Agent
  await roundTrip('start')
  clusterId = '0'
  changesTopic = `/patina/${clusterId}/changes/1`
  membersTopic = `/patina/${clusterId}/members/1`
  attacker = createLibp2pTransport({ listen: ['127.0.0.1:0'], maxMessageBytes: 8 * 1024 * 1024 })
  await attacker.start()
  attacker.subscribe(changesTopic)
  attacker.subscribe(membersTopic)
  const addr = victim.cluster.members().find((m) => m.self)?.gossip_addrs[0] as string
  await attacker.dial(addr)
  // wait until the victim counts what the attacker publishes (it is in the mesh)
  const start = await metric(victim, 'patina_gossip_messages_rejected_total')
  await waitFor(
    'the attacker in the victim’s mesh',
    async () => {
      await publish(new Uint8Array([0xc1, 0xc1]))
      await new Promise((r) => setTimeout(r, 100))
      return (await metric(victim, 'patina_gossip_messages_rejected_total')) > start
    },
    60_000,
  )
}, 180_000)

afterAll(async () => {
  await attacker?.stop()
  await cluster?.stop()
})

describe('hostile gossip and sync', () => {
  it('random bytes and mutated valid messages are dropped and counted', async () => {
    const rejectedBefore = await metric(victim, 'patina_gossip_messages_rejected_total')
    const invalidBefore = await metric(victim, 'patina_changesets_invalid_total')
    const valid = envelope(KIND.Changes, [encode(changeset({ version: 3 }))])
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 4096 }),
          // mutate a valid message: flip bytes, cut it, or append junk
          fc
            .tuple(
              fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
              fc.nat(),
              fc.uint8Array({ maxLength: 32 }),
            )
            .map(([flips, cut, tail]) => {
              const m = new Uint8Array([...valid.subarray(0, Math.max(1, valid.length - (cut % 8))), ...tail])
              for (const [i, b] of flips) m[i % m.length] = b
              return m
            }),
          // valid envelope, random changeset bytes inside
          fc
            .array(fc.uint8Array({ maxLength: 200 }), { maxLength: 4 })
            .map((bins) => envelope(KIND.Changes, bins)),
          // valid envelope, random body of the wrong shape
          fc.jsonValue().map((v) => envelope(KIND.Changes, v)),
          fc.jsonValue().map((v) => envelope(KIND.Membership, v)),
        ),
        fc.boolean(),
        async (data, members) => {
          await publish(data, members ? membersTopic : changesTopic)
        },
      ),
      { numRuns: RUNS * 3 },
    )
    await new Promise((r) => setTimeout(r, 1000))
    const counted =
      (await metric(victim, 'patina_gossip_messages_rejected_total')) -
      rejectedBefore +
      ((await metric(victim, 'patina_changesets_invalid_total')) - invalidBefore)
    expect(counted).toBeGreaterThan(RUNS)
    await roundTrip('after-random')
    realActorsConsistent(victim)
    realActorsConsistent(peer)
  })

  it('unknown tables and columns, wrong-typed values, bad keys and seq ranges do not poison the cluster', async () => {
    const errorsBefore =
      (await metric(victim, 'patina_apply_errors_total')) +
      (await metric(victim, 'patina_changesets_invalid_total'))
    const poison: FullChangeset[] = [
      changeset({ version: 10 }, { table: 'nope' }),
      changeset({ version: 11 }, { cid: 'nope' }),
      changeset({ version: 12 }, { cid: 'text', val: null }), // NULL into NOT NULL
      changeset({ version: 13 }, { cid: 'id', val: 7 }), // a primary-key column as a cell
      changeset({ version: 14 }, { pk: new Uint8Array([0xff, 0xff, 0xff]) }),
      changeset({ version: 15 }, { pk: new Uint8Array() }),
      changeset({ version: 16, seqStart: 5, seqEnd: 2, lastSeq: 1 }),
      changeset({ version: 17 }, { seq: 99 }),
      changeset({ version: 18 }, { cl: 2, cid: 'text' }), // a cell change on a deleted row
      changeset({ version: 19 }, { colVersion: -5 }),
      changeset({ version: 20 }, { cl: -1 }),
      changeset({ version: 21 }, { val: { evil: true } as unknown as string }),
      changeset({ version: 22 }, { table: '__patina_meta' }),
      changeset({ version: 23, actorId: 'not-a-uuid' }),
      changeset({ version: 24 }, { val: 'x'.repeat(512 * 1024) }),
    ]
    for (const cs of poison) await publish(envelope(KIND.Changes, [encode(cs)]))
    // a good changeset in the same message as a bad one
    await publish(
      envelope(KIND.Changes, [
        encode(changeset({ version: 25 }, { table: 'nope' })),
        encode(changeset({ version: 26 }, { pk: packPk([501]) })),
      ]),
    )
    await new Promise((r) => setTimeout(r, 1000))
    const errorsAfter =
      (await metric(victim, 'patina_apply_errors_total')) +
      (await metric(victim, 'patina_changesets_invalid_total'))
    expect(errorsAfter).toBeGreaterThan(errorsBefore)
    await roundTrip('after-poison')
    // the poison is nowhere: no unknown table row, no NULL text, no wrong cell
    const rows = await queryRows(victim.apiUrl, 'SELECT id, text FROM tests WHERE text IS NULL OR id = 7')
    expect(rows).toEqual([])
    realActorsConsistent(victim)
    realActorsConsistent(peer)
    await new Promise((r) => setTimeout(r, 1500)) // a few sync rounds: nothing re-spreads the poison
    await roundTrip('after-poison-sync')
  })

  it('forged versions, replays and reordering from a publisher that is no member are never applied; bookkeeping stays intact', async () => {
    // the attacker is no member: its changesets are held until they expire, never applied
    const rejected = () =>
      metric(victim, 'patina_gossip_messages_rejected_total', {
        channel: 'changes',
        reason: 'unknown_publisher',
      })
    const before = await rejected()
    const actor2 = '0c0c0c0c-0c0c-4c0c-8c0c-0c0c0c0c0c0c'
    const forged = [
      changeset({ actorId: actor2, version: 2 ** 40 }, { pk: packPk([600]), val: 'far-future' }),
      changeset({ actorId: actor2, version: Number.MAX_SAFE_INTEGER + 2 }, { pk: packPk([601]) }),
      changeset({ actorId: actor2, version: 0 }, { pk: packPk([602]) }),
      changeset({ actorId: actor2, version: -3 }, { pk: packPk([603]) }),
      changeset({ actorId: actor2, version: 1.5 }, { pk: packPk([604]) }),
      // impersonating a live worker: the attack that would otherwise diverge the cluster
      changeset(
        { actorId: peer.engine.actorId, version: 2 ** 40 },
        { pk: packPk([605]), val: 'impersonated' },
      ),
    ]
    for (const cs of forged) await publish(envelope(KIND.Changes, [encode(cs)]))
    // replays and reordering of another actor's versions, published by the attacker
    const actor3 = '0d0d0d0d-0d0d-4d0d-8d0d-0d0d0d0d0d0d'
    for (const v of [3, 1, 2, 1, 3, 2, 1, 1, 3])
      await publish(
        envelope(KIND.Changes, [
          encode(
            changeset(
              { actorId: actor3, version: v },
              { pk: packPk([700 + v]), val: `r${v}`, colVersion: 1 },
            ),
          ),
        ]),
      )
    await waitFor('the refusals to be counted', async () => (await rejected()) > before, 30_000)
    await roundTrip('after-forgery')
    const rows = await queryRows(
      victim.apiUrl,
      'SELECT id FROM tests WHERE id BETWEEN 600 AND 703 ORDER BY id',
    )
    expect(rows).toEqual([])
    for (const v of [2 ** 40, Number.MAX_SAFE_INTEGER + 2, 0, -3, 1.5])
      expect(victim.engine.contains(actor2, v)).toBe(false)
    for (const v of [1, 2, 3]) expect(victim.engine.contains(actor3, v)).toBe(false)
    expect(victim.engine.contains(peer.engine.actorId, 2 ** 40)).toBe(false)
    realActorsConsistent(victim)
    realActorsConsistent(peer)
    const health = await fetch(`${victim.apiUrl}/v1/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toHaveProperty('response.gaps', 0)
  })

  it('random sync frames are refused and counted; the node keeps syncing', async () => {
    const before = await metric(victim, 'patina_gossip_messages_rejected_total')
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }),
          fc.uint8Array({ maxLength: 256 }).map((b) => envelope(KIND.SyncRequest, b)),
          fc.jsonValue().map((v) => envelope(KIND.SyncRequest, v)),
          fc.constant(envelope(KIND.Changes, [])),
        ),
        async (frame) => {
          const s = await attacker.openStream(
            victim.cluster.members().find((m) => m.self)?.peer_id as string,
            SYNC_PROTOCOL,
          )
          try {
            await s.send(frame)
            await s.close()
            for await (const _ of s.frames()) {
              // the victim answers with a rejection (or nothing) and closes
            }
          } catch {
            // reset by the victim: fine
          }
        },
      ),
      { numRuns: RUNS },
    )
    expect(await metric(victim, 'patina_gossip_messages_rejected_total')).toBeGreaterThan(before)
    await roundTrip('after-sync-frames')
    realActorsConsistent(victim)
    realActorsConsistent(peer)
  })
})
