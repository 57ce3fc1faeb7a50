/**
 * Corrosion's documented consul schema (generated columns, WITHOUT ROWID, composite keys) on a
 * two-node cluster: it starts, replicates, and serves a join subscription on generated columns,
 * to a client speaking h2c as Corrosion's own client does.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, type Conn } from '../../packages/node/test/api/transports.js'
import { exec, queryRows, startCluster, waitFor, type TestCluster } from '../helpers/cluster.js'

const CONSUL = readFileSync(join(import.meta.dirname, '../fixtures/consul-schema.sql'), 'utf8')
const JOIN = `SELECT s.node, s.id, s.app_id, s.app_name, c.status
  FROM consul_services s JOIN consul_checks c ON c.node = s.node AND c.service_id = s.id
  WHERE s.app_id = 42`

describe("Corrosion's consul schema on two nodes", () => {
  let c: TestCluster
  let h2: Conn
  beforeAll(async () => {
    c = await startCluster(2, { schema: CONSUL })
    h2 = connect('h2c', c.agents[1]!.apiUrl)
  })
  afterAll(async () => {
    h2?.close()
    await c?.stop()
  })

  it('replicates writes and serves a join subscription on generated columns on the other node', async () => {
    const [a, b] = c.agents as [NonNullable<(typeof c.agents)[0]>, NonNullable<(typeof c.agents)[0]>]
    const sub = await h2.stream('POST', '/v1/subscriptions?skip_rows=false', JSON.stringify(JOIN), {
      'content-type': 'application/json',
    })
    expect(sub.status).toBe(200)
    await sub.waitFor(2)
    expect(sub.events[0]).toEqual({ columns: ['node', 'id', 'app_id', 'app_name', 'status'] })

    await exec(a.apiUrl, [
      [
        'INSERT INTO consul_services (node, id, name, tags, meta, port, address, updated_at) VALUES (?,?,?,?,?,?,?,?)',
        [
          'node-a',
          'web-1',
          'web',
          '["primary"]',
          '{"app_id": 42, "network_id": 3, "app_name": "shop"}',
          8080,
          '10.0.0.7',
          1,
        ],
      ],
      [
        'INSERT INTO consul_checks (node, id, service_id, service_name, name, status, output, updated_at) VALUES (?,?,?,?,?,?,?,?)',
        ['node-a', 'chk-1', 'web-1', 'web', 'http', 'passing', 'ok', 1],
      ],
    ])
    await sub.waitFor(3)
    expect(sub.events[2]).toEqual({ change: ['insert', 1, ['node-a', 'web-1', 42, 'shop', 'passing'], 1] })
    expect(await queryRows(b.apiUrl, 'SELECT app_id, network_id, app_name FROM consul_services')).toEqual([
      [42, 3, 'shop'],
    ])

    // A change of the replicated column moves the row out of the subscription on the other node.
    await exec(a.apiUrl, ["UPDATE consul_services SET meta = '{\"app_id\": 7}' WHERE id = 'web-1'"])
    await sub.waitFor(4)
    expect(sub.events[3]).toEqual({ change: ['delete', 1, ['node-a', 'web-1', 42, 'shop', 'passing'], 2] })
    await waitFor('b computes the new app_id', async () => {
      const rows = await queryRows(b.apiUrl, 'SELECT app_id, app_name FROM consul_services')
      return rows[0]?.[0] === 7 && rows[0]?.[1] === null
    })
    // And back in, from a write on the subscribing node itself.
    await exec(b.apiUrl, [
      'UPDATE consul_services SET meta = \'{"app_id": 42, "app_name": "shop2"}\' WHERE id = \'web-1\'',
    ])
    await sub.waitFor(5)
    expect(sub.events[4]).toEqual({ change: ['insert', 2, ['node-a', 'web-1', 42, 'shop2', 'passing'], 3] })
    await waitFor('a sees the write of b', async () => {
      const rows = await queryRows(a.apiUrl, 'SELECT app_name FROM consul_services')
      return rows[0]?.[0] === 'shop2'
    })
    sub.abort()
  })
})
