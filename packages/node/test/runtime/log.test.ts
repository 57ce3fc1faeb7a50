import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { componentLogger, createLogger, setLogLevel } from '../../src/runtime/log.js'

function sink(): { stream: Writable; lines: () => string[] } {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString())
      cb()
    },
  })
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== ''),
  }
}

describe('log', () => {
  it('writes JSON lines with the component of a child', () => {
    const s = sink()
    const root = createLogger({ format: 'json', level: 'info', colors: false }, { destination: s.stream })
    root.child({ component: 'sync' }).info({ peer: 'p1' }, 'synced')
    const [line] = s.lines()
    const obj = JSON.parse(line ?? '{}') as Record<string, unknown>
    expect(obj).toMatchObject({ level: 30, component: 'sync', peer: 'p1', msg: 'synced' })
  })

  it('writes pretty lines with the component as a prefix', () => {
    const s = sink()
    const root = createLogger({ format: 'pretty', level: 'info', colors: false }, { destination: s.stream })
    root.child({ component: 'api' }).info('listening')
    expect(s.lines().join('\n')).toMatch(/INFO.*\[api\] listening/)
  })

  it('changes the level of existing children and grandchildren at runtime', () => {
    const s = sink()
    const root = createLogger({ format: 'json', level: 'info', colors: false }, { destination: s.stream })
    const child = root.child({ component: 'sync' })
    const grandchild = child.child({ peer: 'x' })
    grandchild.debug('hidden')
    expect(s.lines()).toHaveLength(0)
    setLogLevel(root, 'debug')
    expect(child.level).toBe('debug')
    grandchild.debug('shown')
    expect(s.lines()).toHaveLength(1)
    setLogLevel(root, 'silent')
    child.error('hidden too')
    expect(s.lines()).toHaveLength(1)
  })

  it('nests component names instead of writing the key twice (cluster → cluster/membership)', () => {
    const s = sink()
    const root = createLogger(
      { format: 'json', level: 'info', colors: false },
      { destination: s.stream, base: { node: 'n1' } },
    )
    const cluster = componentLogger(root, 'cluster', { cluster: 'default' })
    const membership = componentLogger(cluster, 'membership')
    cluster.info('cluster line')
    membership.info({ peer: 'p2' }, 'membership line')
    componentLogger(membership, 'probe').warn('deeper')
    const lines = s.lines()
    // Raw text: JSON.parse would hide a duplicate key (the last one wins).
    for (const line of lines) expect(line.match(/"component":/g), line).toHaveLength(1)
    for (const line of lines) expect(line.match(/"cluster":/g), line).toHaveLength(1)
    for (const line of lines) expect(line.match(/"node":/g), line).toHaveLength(1)
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toMatchObject([
      { node: 'n1', component: 'cluster', cluster: 'default', msg: 'cluster line' },
      { node: 'n1', component: 'cluster/membership', cluster: 'default', peer: 'p2' },
      { node: 'n1', component: 'cluster/membership/probe', cluster: 'default', msg: 'deeper' },
    ])
  })

  it('nested component loggers follow runtime level changes like any other child', () => {
    const s = sink()
    const root = createLogger({ format: 'json', level: 'info', colors: false }, { destination: s.stream })
    const inner = componentLogger(componentLogger(root, 'cluster'), 'sync')
    inner.debug('hidden')
    setLogLevel(root, 'debug')
    inner.debug('shown')
    expect(s.lines().map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['shown'])
  })

  it('under a component bound some other way, the name goes under subcomponent (one component key)', () => {
    const s = sink()
    const other = pino({ base: {} }, s.stream).child({ component: 'host-app' })
    componentLogger(other, 'client').info('hello')
    const [line] = s.lines()
    expect(line?.match(/"component":/g)).toHaveLength(1)
    expect(JSON.parse(line ?? '{}')).toMatchObject({ component: 'host-app', subcomponent: 'client' })
  })
})
