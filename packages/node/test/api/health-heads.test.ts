/**
 * The `heads` field of `GET /v1/health`: the pure `actorHeads`, table-tested, and the route
 * over a real engine receiving another actor's versions out of order, read back through the
 * edge client's own parser (`parseWorkerFreshness`, `coversHeads`) so that the two stay in step.
 */
import { coversHeads, parseWorkerFreshness } from '@patina/client'
import type { FullChangeset, SyncState } from '@patina/core'
import { afterEach, describe, expect, it } from 'vitest'
import { actorHeads } from '../../src/api/health.js'
import { makeEnv, type Env } from '../subs/helpers.js'
import { exec, makeApi, type TestApi } from './helpers.js'

const state = (s: Partial<SyncState>): SyncState => ({
  actorId: 'self',
  heads: {},
  need: {},
  partialNeed: {},
  ...s,
})

describe('actorHeads', () => {
  it.each<[string, Partial<SyncState>, Record<string, { max: number; complete: number }>]>([
    ['no actor', {}, {}],
    ['an actor with head 0 is left out', { heads: { a: 0 } }, {}],
    ['every version up to the head', { heads: { a: 7 } }, { a: { max: 7, complete: 7 } }],
    ['a gap from 1', { heads: { a: 3 }, need: { a: [[1, 2]] } }, { a: { max: 3, complete: 0 } }],
    ['a gap in the middle', { heads: { a: 9 }, need: { a: [[4, 6]] } }, { a: { max: 9, complete: 3 } }],
    [
      'the lowest of several gaps, listed in any order',
      {
        heads: { a: 20 },
        need: {
          a: [
            [15, 16],
            [5, 5],
          ],
        },
      },
      { a: { max: 20, complete: 4 } },
    ],
    [
      'a partly received version below a gap',
      { heads: { a: 9 }, need: { a: [[6, 8]] }, partialNeed: { a: { 3: [[2, 5]] } } },
      { a: { max: 9, complete: 2 } },
    ],
    [
      'the head itself partly received',
      { heads: { a: 4 }, partialNeed: { a: { 4: [[1, 1]] } } },
      { a: { max: 4, complete: 3 } },
    ],
    [
      'actors are independent; gaps of one do not touch another',
      { heads: { a: 5, b: 2 }, need: { a: [[1, 1]] } },
      { a: { max: 5, complete: 0 }, b: { max: 2, complete: 2 } },
    ],
  ])('%s', (_name, s, want) => {
    const got = actorHeads(state(s))
    expect(got).toEqual(want)
    // what the edge client reads back is exactly what was sent
    expect(parseWorkerFreshness({ heads: got }).heads).toEqual(want)
  })
})

describe('GET /v1/health heads', () => {
  let api: TestApi | undefined
  let other: Env | undefined
  afterEach(async () => {
    await api?.close()
    other?.cleanup()
  })

  it("reports this node's own versions and another actor's, received out of order and in part, as the edge client parses them", async () => {
    api = await makeApi()
    other = makeEnv()
    const self = api.env.engine.actorId
    const them = other.engine.actorId
    const heads = async () => {
      const res = await api!.app.inject({ method: 'GET', url: '/v1/health' })
      expect(res.statusCode).toBe(200)
      const response = (res.json() as { response: Record<string, unknown> }).response
      expect(parseWorkerFreshness(response).heads).toEqual(response['heads'])
      return response['heads']
    }
    expect(await heads()).toEqual({})

    await exec(api, ["INSERT INTO users (id, name) VALUES (1, 'a')"])
    await exec(api, ["INSERT INTO users (id, name) VALUES (2, 'b')"])
    expect(await heads()).toEqual({ [self]: { max: 2, complete: 2 } })

    // Four versions of another actor; the third touches two rows, so it can arrive in two chunks.
    const cs: FullChangeset[] = []
    for (const sql of [
      "INSERT INTO teams (id, title) VALUES (1, 'x')",
      "INSERT INTO teams (id, title) VALUES (2, 'y')",
      "INSERT INTO teams (id, title) VALUES (3, 'z'), (4, 'w')",
      "INSERT INTO teams (id, title) VALUES (5, 'v')",
    ]) {
      const r = other.engine.transaction([{ sql }])
      expect(r.changesets).toHaveLength(1)
      cs.push(r.changesets[0]!)
    }
    const [v1, v2, v3, v4] = cs as [FullChangeset, FullChangeset, FullChangeset, FullChangeset]
    expect(v3.lastSeq).toBeGreaterThan(0)
    const firstChunk: FullChangeset = {
      ...v3,
      seqStart: 0,
      seqEnd: 0,
      changes: v3.changes.filter((c) => c.seq === 0),
    }
    const rest: FullChangeset = {
      ...v3,
      seqStart: 1,
      seqEnd: v3.lastSeq,
      changes: v3.changes.filter((c) => c.seq > 0),
    }
    const before = await heads()

    api.env.engine.apply([v4])
    expect(await heads()).toEqual({ [self]: { max: 2, complete: 2 }, [them]: { max: 4, complete: 0 } })
    api.env.engine.apply([v1])
    expect(await heads()).toMatchObject({ [them]: { max: 4, complete: 1 } })
    api.env.engine.apply([firstChunk])
    expect(await heads()).toMatchObject({ [them]: { max: 4, complete: 1 } })
    api.env.engine.apply([v2])
    // version 3 is held in part: complete stops below it
    const partial = await heads()
    expect(partial).toMatchObject({ [them]: { max: 4, complete: 2 } })
    api.env.engine.apply([rest])
    const after = await heads()
    expect(after).toEqual({ [self]: { max: 2, complete: 2 }, [them]: { max: 4, complete: 4 } })

    // The client's decision on the answers: a worker that lacks version 3 does not cover one
    // that has every version; one that has them all covers both.
    const parsed = (h: unknown) => parseWorkerFreshness({ heads: h }).heads
    expect(coversHeads(parsed(partial), parsed(after))).toBe(false)
    expect(coversHeads(parsed(after), parsed(partial))).toBe(true)
    expect(coversHeads(parsed(after), parsed(before))).toBe(true)
  })
})
