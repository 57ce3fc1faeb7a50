import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger, setLogLevel } from '../../src/log.js'

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
})
