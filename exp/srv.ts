import { serveApi } from '../packages/node/test/api/transports.ts'
const s = await serveApi('http1', {}, 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);')
console.log(s.server.url)
process.stdin.resume()
