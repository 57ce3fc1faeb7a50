import { describe, expect, it } from 'vitest'
import { parseTemplateSpec } from '../src/spec.js'
import { renderDueAt } from '../src/debounce.js'

describe('parseTemplateSpec', () => {
  it.each([
    ['a.eta:/tmp/out.conf', { src: 'a.eta', dst: '/tmp/out.conf' }],
    ['a.eta:/tmp/out.conf:nginx -s reload', { src: 'a.eta', dst: '/tmp/out.conf', cmd: 'nginx -s reload' }],
    // the command keeps its own colons
    [
      'a.eta:out:curl -s http://127.0.0.1:9/x',
      { src: 'a.eta', dst: 'out', cmd: 'curl -s http://127.0.0.1:9/x' },
    ],
  ])('%s', (arg, want) => expect(parseTemplateSpec(arg)).toEqual(want))

  it.each([
    ['a.eta', /the output file \(DST\) is missing/],
    ['a.eta:', /the output file \(DST\) is missing/],
    [':out', /the template file \(SRC\) is missing/],
    ['a.eta:out: ', /command after the second ":" is empty/],
  ])('refuses %j', (arg, msg) => {
    expect(() => parseTemplateSpec(arg)).toThrow(msg)
    expect(() => parseTemplateSpec(arg)).toThrow(/expected SRC:DST\[:CMD\]/)
  })
})

describe('renderDueAt', () => {
  const o = { debounceMs: 100, maxDelayMs: 1000 }
  it.each([
    // first change, last change → due
    [0, 0, 100], // a single change: 100 ms later
    [0, 50, 150], // a second change pushes it back
    [0, 950, 1000], // but never more than maxDelayMs after the first
    [0, 5000, 1000],
    [200, 200, 300],
  ])('first %i, last %i → %i', (first, last, due) => expect(renderDueAt(first, last, o)).toBe(due))

  it('maxDelayMs below debounceMs acts as debounceMs', () =>
    expect(renderDueAt(0, 0, { debounceMs: 100, maxDelayMs: 10 })).toBe(100))
})
