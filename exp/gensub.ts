import { readFileSync } from 'node:fs'
import { serveApi } from '../packages/node/test/api/transports.ts'
const S = readFileSync('exp/gen.ts', 'utf8').split('const S = `')[1]!.split('`')[0]!
const s = await serveApi('h2c', {}, S)
const sub = await s.conn.stream('POST', '/v1/subscriptions', JSON.stringify('SELECT s.id, s.app_id, s.app_name, c.status FROM consul_services s JOIN consul_checks c ON c.service_id = s.id WHERE s.app_id = 42'), { 'content-type': 'application/json' })
console.log(sub.status)
await new Promise(r => setTimeout(r, 300)); console.log(JSON.stringify(sub.events))
await s.post('/v1/transactions', [["INSERT INTO consul_services (node, id, name, meta, port) VALUES ('n1', 'svc1', 'web', ?, 80)", ['{"app_id": 42, "app_name": "shop"}']], "INSERT INTO consul_checks (node, id, service_id, status) VALUES ('n1', 'c1', 'svc1', 'passing')"])
await new Promise(r => setTimeout(r, 300)); console.log(JSON.stringify(sub.events))
await s.post('/v1/transactions', ["UPDATE consul_services SET meta = '{\"app_id\": 7}' WHERE id = 'svc1'"])
await new Promise(r => setTimeout(r, 300)); console.log(JSON.stringify(sub.events))
await s.post('/v1/transactions', ["UPDATE consul_services SET meta = '{\"app_id\": 42, \"app_name\": \"again\"}' WHERE id = 'svc1'"])
await new Promise(r => setTimeout(r, 300)); console.log(JSON.stringify(sub.events))
sub.abort(); await s.close()
