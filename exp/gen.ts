import { createStateEngine } from '../packages/core/src/index.ts'
const S = `CREATE TABLE consul_services (
    node TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    meta TEXT NOT NULL DEFAULT '{}',
    port INTEGER NOT NULL DEFAULT 0,
    address TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL DEFAULT 0,
    source TEXT,
    app_id INTEGER AS (CAST(JSON_EXTRACT(meta, '$.app_id') AS INTEGER)),
    network_id INTEGER AS (
        CAST(JSON_EXTRACT(meta, '$.network_id') AS INTEGER)
    ),
    app_name TEXT AS (JSON_EXTRACT(meta, '$.app_name')),
    PRIMARY KEY (node, id)
) WITHOUT ROWID;
CREATE TABLE consul_checks (
    node TEXT NOT NULL,
    id TEXT NOT NULL,
    service_id TEXT NOT NULL DEFAULT '',
    service_name TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT '',
    output TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL DEFAULT 0,
    source TEXT,
    PRIMARY KEY (node, id)
) WITHOUT ROWID;`
const a = createStateEngine({ path: ':memory:', schema: S }), b = createStateEngine({ path: ':memory:', schema: S })
const r = a.transaction([
  { sql: "INSERT INTO consul_services (node, id, name, meta, port) VALUES ('n1', 'svc1', 'web', ?, 80)", params: ['{"app_id": 42, "app_name": "shop"}'] },
  { sql: "INSERT INTO consul_checks (node, id, service_id, status) VALUES ('n1', 'c1', 'svc1', 'passing')" },
])
b.apply(r.changesets)
const q = 'SELECT s.app_id, s.app_name, c.status FROM consul_services s JOIN consul_checks c ON c.service_id = s.id WHERE s.app_id = 42'
console.log('A', JSON.stringify([...a.query(q).rows], (k, v) => typeof v === 'bigint' ? String(v) : v))
console.log('B', JSON.stringify([...b.query(q).rows], (k, v) => typeof v === 'bigint' ? String(v) : v))
const r2 = a.transaction([{ sql: "UPDATE consul_services SET meta = '{\"app_id\": 7}' WHERE id = 'svc1'" }])
b.apply(r2.changesets)
console.log('B2', JSON.stringify([...b.query('SELECT app_id, app_name FROM consul_services').rows], (k, v) => typeof v === 'bigint' ? String(v) : v))
console.log(JSON.stringify(r2.changesets[0], (k, v) => typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? 'bytes' : v).slice(0, 400))
