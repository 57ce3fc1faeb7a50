import { describe, expect, it } from 'vitest'
import { ownHistoryPlan } from '../../src/sync/own-history.js'

describe('ownHistoryPlan (start-up check of a node’s own versions)', () => {
  it.each([
    [{ actorCreated: true, addresses: 3, waitMs: 10_000 }, 'fresh'],
    [{ actorCreated: true, addresses: 0, waitMs: 0 }, 'fresh'],
    [{ actorCreated: false, addresses: 3, waitMs: 0 }, 'trusted'],
    [{ actorCreated: false, addresses: 0, waitMs: 10_000 }, 'alone'],
    [{ actorCreated: false, addresses: 1, waitMs: 10_000 }, 'check'],
  ] as const)('%o → %s', (facts, plan) => {
    expect(ownHistoryPlan(facts)).toBe(plan)
  })
})
