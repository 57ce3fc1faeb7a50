/**
 * The partition proxy used by the fault campaigns: it recognises which process dialed, passes
 * bytes both ways, drops one direction on a one-way cut, and on a two-way partition closes live
 * connections and refuses new ones until healed.
 */
import { createServer, connect, type Socket } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { createPartitionNet } from './lib/partition-net.js'

const echo = createServer((s) => s.pipe(s))
const net = createPartitionNet()
afterAll(async () => {
  await net.close()
  await new Promise<void>((r) => echo.close(() => r()))
})

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
}
/**
 * Sends `text` and collects what comes back: resolves as soon as `expect` has arrived, else after
 * `ms` with whatever came (null when the connection closed). Positive checks wait generously;
 * negative ones watch a short window (a slow machine can only make those pass, never fail).
 */
function roundTrip(
  s: Socket,
  text: string,
  expect?: string,
  ms = expect === undefined ? 1500 : 20_000,
): Promise<string | null> {
  return new Promise((resolve) => {
    let got = ''
    const timer = setTimeout(() => finish(s.destroyed ? null : got), ms)
    const finish = (v: string | null): void => {
      clearTimeout(timer)
      s.off('data', onData)
      resolve(v)
    }
    const onData = (d: Buffer): void => {
      got += d.toString()
      if (got === expect) finish(got)
    }
    s.on('data', onData)
    s.once('close', () => finish(null))
    s.write(text)
  })
}

describe('partition proxy', () => {
  it('identifies the dialer and applies one-way cuts, partitions and heals', async () => {
    const echoPort = await new Promise<number>((r) =>
      echo.listen(0, '127.0.0.1', () => r((echo.address() as { port: number }).port)),
    )
    const proxy = await net.add('b', echoPort)
    net.setPid('a', process.pid) // this test process plays worker a

    const s1 = await dial(proxy)
    expect(await roundTrip(s1, 'hello', 'hello')).toBe('hello')
    expect(net.stats().unidentified).toBe(0)

    net.cut('a', 'b') // a's bytes to b vanish: no echo, connection stays up
    expect(await roundTrip(s1, 'lost')).toBe('')
    expect(net.stats().bytesDropped).toBeGreaterThan(0)
    net.heal()
    expect(await roundTrip(s1, 'back', 'back')).toBe('back')

    net.partition(['a'], ['b']) // live connection closed, new ones refused
    expect(s1.destroyed || (await roundTrip(s1, 'x')) === null).toBe(true)
    const s2 = await dial(proxy).catch(() => null)
    if (s2 !== null) expect(await roundTrip(s2, 'x')).toBeNull()
    expect(net.stats().refused).toBeGreaterThan(0)
    expect(net.describe()).toEqual(['a<->b'])

    net.heal()
    const s3 = await dial(proxy)
    expect(await roundTrip(s3, 'healed', 'healed')).toBe('healed')
    s3.destroy()
  })
})
