/**
 * The API listener: protocol choice by preface, slow-client timeouts, the per-address
 * connection cap, and HTTP/2 streams (many on one connection, a client that vanishes mid-stream,
 * pings), with Node's own `net` and `http2` clients.
 */
import http2 from 'node:http2'
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { addressKey, sniffProtocol } from '../../src/api/server.js'
import { connect, serveApi, type ServedApi } from './transports.js'

const SCHEMA = 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);'

let s: ServedApi | undefined
afterEach(async () => {
  await s?.close()
  s = undefined
})

/** A raw TCP client: writes `chunks` (strings, or pauses in ms), then collects what comes back until the server closes. */
async function rawExchange(
  port: number,
  chunks: (string | number)[],
): Promise<{ text: string; closedByServer: boolean }> {
  const sock = net.connect(port, '127.0.0.1')
  sock.on('error', () => {})
  let text = ''
  sock.on('data', (d: Buffer) => (text += d.toString('latin1')))
  const closed = new Promise<void>((r) => sock.once('close', () => r()))
  let closedByServer = false
  void closed.then(() => (closedByServer = true))
  for (const c of chunks) {
    if (closedByServer) break
    if (typeof c === 'number') await Promise.race([new Promise((r) => setTimeout(r, c)), closed])
    else sock.write(c)
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000))])
  sock.destroy()
  return { text, closedByServer }
}

describe('sniffProtocol and addressKey', () => {
  it.each([
    ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'h2'],
    ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00', 'h2'],
    ['PRI * HTTP/2.0\r\n', null],
    ['P', null],
    ['', null],
    ['POST /v1/queries HTTP/1.1\r\n', 'http1'],
    ['PRI * HTTP/1.1\r\n', 'http1'],
    ['GET', 'http1'],
    ['\x16\x03\x01', 'http1'],
  ])('%j → %s', (head, want) => {
    expect(sniffProtocol(Buffer.from(head, 'latin1'))).toBe(want)
  })

  it('counts an IPv4-mapped IPv6 address as its IPv4 address', () => {
    expect(addressKey('::ffff:127.0.0.1')).toBe('127.0.0.1')
    expect(addressKey('127.0.0.1')).toBe('127.0.0.1')
    expect(addressKey('::1')).toBe('::1')
    expect(addressKey(undefined)).toBe('?')
  })
})

describe('slow clients are cut, real ones are not', () => {
  const limits = { headerTimeoutMs: 300, bodyTimeoutMs: 300, idleTimeoutMs: 1_000 }

  it('HTTP/1.1 headers fed a byte at a time: 408 and the connection closes', async () => {
    s = await serveApi('http1', {}, SCHEMA, limits)
    const chunks: (string | number)[] = ['POST /v1/queries HTTP/1.1\r\nHost: x\r\n']
    for (let i = 0; i < 40; i++) chunks.push('X-Slow: y\r\n', 50)
    const r = await rawExchange(s.server.address.port, chunks)
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /)
    expect(r.closedByServer).toBe(true)
  })

  it('HTTP/1.1 body fed a byte at a time: 408 and the connection closes', async () => {
    s = await serveApi('http1', {}, SCHEMA, limits)
    const chunks: (string | number)[] = [
      'POST /v1/queries HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"SEL',
    ]
    for (let i = 0; i < 40; i++) chunks.push(' ', 50)
    const r = await rawExchange(s.server.address.port, chunks)
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /)
    expect(r.closedByServer).toBe(true)
  })

  it('a connection that sends nothing, or half an HTTP/2 preface, is closed', async () => {
    s = await serveApi('http1', {}, SCHEMA, limits)
    expect((await rawExchange(s.server.address.port, [])).closedByServer).toBe(true)
    expect((await rawExchange(s.server.address.port, ['PRI * HTTP/2.0\r\n'])).closedByServer).toBe(true)
  })

  it('HTTP/2 body fed slowly: 408 with the error shape on that stream', async () => {
    // A generous header timeout: on a loaded machine the session must not be closed as a slow
    // header sender before the request reaches the server; the body timeout is what is tested.
    s = await serveApi('h2c', {}, SCHEMA, { ...limits, headerTimeoutMs: 10_000 })
    const session = http2.connect(s.server.url)
    session.on('error', () => {})
    const req = session.request({
      ':method': 'POST',
      ':path': '/v1/queries',
      'content-type': 'application/json',
    })
    req.write('"SEL')
    const iv = setInterval(() => {
      if (req.writable) req.write(' ')
    }, 50)
    const status = await new Promise<number>((resolve) => {
      req.on('response', (h) => resolve(Number(h[':status'])))
      req.once('close', () => resolve(-1)) // closed without an answer: fails below, never hangs
    })
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    await new Promise<void>((r) => req.once('close', () => r()))
    clearInterval(iv)
    session.destroy()
    expect(status).toBe(408)
    expect(JSON.parse(body)).toEqual({
      error: expect.stringMatching(/body_timeout_ms/),
      code: 'PATINA_ERR_TIMEOUT',
    })
  })

  it('an HTTP/2 session that only pings and never asks is closed; one that asks keeps its streams', async () => {
    s = await serveApi('h2c', {}, SCHEMA, limits)
    const idle = http2.connect(s.server.url)
    idle.on('error', () => {})
    const pinger = setInterval(() => {
      if (!idle.closed && !idle.destroyed) idle.ping(() => {})
    }, 50)
    const goaway = new Promise<void>((r) => idle.once('close', () => r()))
    // A live subscription on another session outlives every timeout, with no traffic at all.
    const sub = await s.conn.stream('POST', '/v1/subscriptions', JSON.stringify('SELECT id, v FROM t'), {
      'content-type': 'application/json',
    })
    await sub.waitFor(2)
    await goaway
    clearInterval(pinger)
    await new Promise((r) => setTimeout(r, 3 * limits.idleTimeoutMs))
    await s.post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (1, 'late')"])
    await sub.waitFor(3)
    expect(sub.events[2]).toEqual({ change: ['insert', 1, [1, 'late'], 1] })
    sub.abort()
  })

  it('HTTP/1.1 keep-alive connections are reused within the idle timeout', async () => {
    s = await serveApi('http1', {}, SCHEMA, limits)
    for (let i = 0; i < 5; i++) expect((await s.conn.request('GET', '/v1/health')).status).toBe(200)
    expect(s.server.connections().http1).toBe(1)
  })
})

describe('connections per client address', () => {
  it('answers a request on a connection over the cap with 503 PATINA_ERR_CONNECTION_LIMIT, then serves again', async () => {
    s = await serveApi('http1', {}, SCHEMA, { connectionsPerAddressMax: 3 })
    const held = [connect('h2c', s.server.url), connect('h2c', s.server.url), connect('h2c', s.server.url)]
    for (const c of held) expect((await c.request('GET', '/v1/health')).status).toBe(200)
    const over1 = connect('http1', s.server.url)
    const r1 = await over1.request('GET', '/v1/health')
    expect(r1.status).toBe(503)
    expect(r1.json()).toEqual({
      error: expect.stringMatching(/too many connections/),
      code: 'PATINA_ERR_CONNECTION_LIMIT',
    })
    const over2 = connect('h2c', s.server.url)
    const r2 = await over2.request('GET', '/v1/health')
    expect(r2.status).toBe(503)
    expect(r2.json()['code']).toBe('PATINA_ERR_CONNECTION_LIMIT')
    over1.close()
    over2.close()
    held[0]?.close()
    await expect.poll(() => s!.server.connections().http2, { timeout: 5_000 }).toBe(2)
    await expect.poll(() => s!.server.connections().http1, { timeout: 5_000 }).toBe(0)
    const again = connect('h2c', s.server.url)
    expect((await again.request('GET', '/v1/health')).status).toBe(200)
    again.close()
    for (const c of held) c.close()
  })
})

describe('HTTP/2: one connection, many streams', () => {
  it('carries 200 live subscriptions on one session, each sees the change, and answers pings', async () => {
    s = await serveApi('h2c', {}, SCHEMA)
    const subs = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        s!.conn.stream(
          'POST',
          '/v1/subscriptions',
          JSON.stringify(['SELECT id, v FROM t WHERE id >= ?', [i % 7]]),
          {
            'content-type': 'application/json',
          },
        ),
      ),
    )
    for (const sub of subs) await sub.waitFor(2)
    expect(s.server.connections()).toEqual({ pending: 0, http1: 0, http2: 1 })
    expect(await s.conn.ping()).toBeGreaterThanOrEqual(0)
    await s.post('/v1/transactions', ["INSERT INTO t (id, v) VALUES (10, 'x')"])
    for (const sub of subs) {
      await sub.waitFor(3)
      expect(sub.events[2]).toEqual({ change: ['insert', 1, [10, 'x'], 1] })
    }
    // Other requests interleave with the open streams on the same connection.
    expect((await s.conn.request('GET', '/v1/health')).status).toBe(200)
    for (const sub of subs) sub.abort()
    await expect
      .poll(() => s!.api.hub.list().reduce((n, x) => n + x.listeners, 0), { timeout: 5_000 })
      .toBe(0)
  })

  it('a client that vanishes mid-stream releases its listeners and concurrency slots; the node keeps serving', async () => {
    s = await serveApi('h2c', { concurrency: { subscriptions: 5 } }, SCHEMA)
    for (let round = 0; round < 3; round++) {
      const gone = connect('h2c', s.server.url)
      const subs = await Promise.all(
        Array.from({ length: 5 }, () =>
          gone.stream('POST', '/v1/subscriptions', JSON.stringify('SELECT id, v FROM t'), {
            'content-type': 'application/json',
          }),
        ),
      )
      for (const sub of subs) await sub.waitFor(2)
      gone.close() // the TCP connection is destroyed under the open streams
      await expect
        .poll(() => s!.api.hub.list().reduce((n, x) => n + x.listeners, 0), { timeout: 5_000 })
        .toBe(0)
    }
    // All five slots are free again.
    const subs = await Promise.all(
      Array.from({ length: 5 }, () =>
        s!.conn.stream('POST', '/v1/subscriptions', JSON.stringify('SELECT id, v FROM t'), {
          'content-type': 'application/json',
        }),
      ),
    )
    for (const sub of subs) expect(sub.status).toBe(200)
    for (const sub of subs) sub.abort()
  })

  it('an HTTP/1.1 client that vanishes mid-stream releases its listener too', async () => {
    s = await serveApi('http1', {}, SCHEMA)
    const sub = await s.conn.stream('POST', '/v1/subscriptions', JSON.stringify('SELECT id, v FROM t'), {
      'content-type': 'application/json',
    })
    await sub.waitFor(2)
    expect(s.api.hub.list().reduce((n, x) => n + x.listeners, 0)).toBe(1)
    sub.abort()
    await expect
      .poll(() => s!.api.hub.list().reduce((n, x) => n + x.listeners, 0), { timeout: 5_000 })
      .toBe(0)
  })
})
