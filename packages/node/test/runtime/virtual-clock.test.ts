/** The one virtual clock (`runtime/clock.ts`), in its exact (tests) and quantised (fleet simulation) modes. */
import { describe, expect, it, vi } from 'vitest'
import { createVirtualClock } from '../../src/runtime/clock.js'

describe('virtual clock', () => {
  it('exact: runs timers in (due time, scheduling order), settling promise chains after each', async () => {
    const clock = createVirtualClock({ startMs: 0 })
    const seen: string[] = []
    clock.setTimeout(() => {
      seen.push('b@2')
      void Promise.resolve().then(() => seen.push('b settled'))
    }, 2)
    clock.setTimeout(() => seen.push('a@1'), 1)
    clock.setTimeout(() => seen.push('c@2'), 2)
    const gone = clock.setTimeout(() => seen.push('cancelled'), 1)
    clock.clearTimeout(gone)
    await clock.advance(5)
    expect(seen).toEqual(['a@1', 'b@2', 'b settled', 'c@2'])
    expect(clock.now()).toBe(5)
    expect(clock.pending()).toBe(0)
  })

  it('quantised: rounds due times up to the quantum and runs an instant before settling', async () => {
    const clock = createVirtualClock({ startMs: 0, step: 'instant', quantumMs: 0.25 })
    const seen: string[] = []
    const at = (name: string) => () => seen.push(`${name}@${clock.now()}`)
    clock.setTimeout(() => {
      at('x')()
      void Promise.resolve().then(() => seen.push('x settled'))
      clock.setTimeout(at('same instant, next step'), 0)
    }, 0.1)
    clock.setTimeout(at('y'), 0.2)
    clock.setTimeout(at('z'), 0.3)
    await clock.advance(1)
    expect(seen).toEqual(['x@0.25', 'y@0.25', 'x settled', 'same instant, next step@0.25', 'z@0.5'])
  })

  it('quantised: a timer that throws is logged and the others of its instant still run', async () => {
    const clock = createVirtualClock({ step: 'instant' })
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    let ran = false
    clock.setTimeout(() => {
      throw new Error('boom')
    }, 1)
    clock.setTimeout(() => (ran = true), 1)
    await clock.advance(2)
    expect(ran).toBe(true)
    expect(error).toHaveBeenCalledTimes(1)
    error.mockRestore()
  })

  it('runUntil stops at the first step after which the condition holds, or at maxMs', async () => {
    for (const opts of [{}, { step: 'instant', quantumMs: 0.25 }] as const) {
      const clock = createVirtualClock({ startMs: 0, ...opts })
      let n = 0
      for (let i = 1; i <= 10; i++) clock.setTimeout(() => n++, i)
      expect(await clock.runUntil(() => n >= 3, 100)).toBe(true)
      expect([n, clock.now()]).toEqual([3, 3])
      expect(await clock.runUntil(() => false, 20)).toBe(false)
      expect([n, clock.now()]).toEqual([10, 23])
    }
  })

  it('instant steps without a quantum run the timers of one exact instant together', async () => {
    const clock = createVirtualClock({ startMs: 0, step: 'instant' })
    const seen: string[] = []
    clock.setTimeout(() => {
      seen.push('a@1')
      void Promise.resolve().then(() => seen.push('a settled'))
    }, 1)
    clock.setTimeout(() => seen.push('b@1'), 1)
    clock.setTimeout(() => seen.push('c@1.1'), 1.1)
    await clock.advance(2)
    expect(seen).toEqual(['a@1', 'b@1', 'a settled', 'c@1.1'])
  })

  it('refuses a negative or infinite quantum, or a quantum with exact steps', () => {
    expect(() => createVirtualClock({ quantumMs: -1 })).toThrow(
      /quantumMs must be a finite number >= 0, got -1/,
    )
    expect(() => createVirtualClock({ quantumMs: Infinity })).toThrow(/got Infinity/)
    expect(() => createVirtualClock({ quantumMs: 1 })).toThrow(/needs step: 'instant'/)
  })
})
