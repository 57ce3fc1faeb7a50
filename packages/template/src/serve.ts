/** `GET /metrics` (Prometheus) and `GET /health` (JSON) of a template set, for `patina template --listen`. */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TemplateSet } from './set.js'

/** Listens on `host:port` (port 0: any free port); resolves with the server and its `http://` address. */
export async function serveTemplateStatus(
  set: TemplateSet,
  listen: string,
): Promise<{ server: Server; address: string }> {
  const i = listen.lastIndexOf(':')
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '')
  const port = Number(listen.slice(i + 1))
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end()
    } else if (path === '/metrics') {
      set.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': set.registry.contentType }).end(text),
        (e: Error) => res.writeHead(500).end(e.message),
      )
    } else if (path === '/health') {
      const h = set.health()
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h))
    } else {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":"not found; try /health or /metrics"}')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const a = server.address() as AddressInfo
  return { server, address: `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` }
}
