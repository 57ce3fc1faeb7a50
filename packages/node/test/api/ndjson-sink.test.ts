import { describe, expect, it } from 'vitest'
import { createNdjsonSink } from '../../src/api/ndjson.js'

describe('NDJSON sink', () => {
  it('writes a snapshot in pieces, not a chunk per line, with live lines after it in order', async () => {
    const sink = createNdjsonSink({ maxBufferBytes: 64 * 1024 * 1024 })
    const source = Array.from({ length: 20_000 }, (_, i) => `{"row":[${i + 1},["host-${i}.example.com"]]}\n`)
    const chunks: string[] = []
    sink.stream.on('data', (d: Buffer) => chunks.push(d.toString()))
    const piped = sink.pipeFrom(source)
    // live lines written while the snapshot is going out wait behind it
    expect(sink.write('{"change":1}\n')).toBe(true)
    expect(sink.write('{"change":2}\n')).toBe(true)
    await piped
    sink.end()
    await new Promise((r) => sink.stream.once('end', r))
    expect(chunks.join('')).toBe(source.join('') + '{"change":1}\n{"change":2}\n')
    expect(chunks.length).toBeLessThan(100)
  })

  it('stops writing a snapshot when the client goes away', async () => {
    const sink = createNdjsonSink({ maxBufferBytes: 64 * 1024 * 1024 })
    const source = Array.from({ length: 20_000 }, (_, i) => `{"row":[${i + 1},["x"]]}\n`)
    const piped = sink.pipeFrom(source)
    sink.stream.destroy()
    await piped
    expect(sink.closed).toBe(true)
    expect(sink.stream.readableLength).toBeLessThan(source.join('').length)
  })
})
