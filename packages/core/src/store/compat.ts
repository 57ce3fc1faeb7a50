/**
 * Read-only compatibility names for what Corrosion users run against a node's database with
 * cr-sqlite loaded: `crsql_site_id` (a view: `ordinal` 0 is this node's site id, the actor id as
 * 16 bytes; other ordinals are the sites this node knows) and the functions `crsql_db_version()`
 * and `crsql_site_id()`. Installed on every connection that runs client SQL, as TEMP objects:
 * nothing is written to the database, and a view cannot be written through.
 */
import type { Database as Db } from 'better-sqlite3'

export interface CompatSource {
  /** This node's actor id (a UUID). */
  actorId: string
  /** The last db version this node committed. */
  dbVersion(): number
}

const uuidHex = (uuid: string): string => uuid.replace(/-/g, '').toLowerCase()

export function installCompat(db: Db, src: CompatSource): void {
  const self = uuidHex(src.actorId)
  if (!/^[0-9a-f]{32}$/.test(self)) return
  db.exec(`CREATE TEMP VIEW IF NOT EXISTS crsql_site_id (ordinal, site_id) AS
    SELECT 0, unhex('${self}')
    UNION ALL
    SELECT ord, unhex(replace(actor_id, '-', '')) FROM main.__patina_sites
    WHERE lower(replace(actor_id, '-', '')) != '${self}'`)
  // A bigint, so that SQLite gets an INTEGER (a JS number is bound as REAL).
  db.function('crsql_db_version', { deterministic: false }, () => BigInt(src.dbVersion()))
  db.function('crsql_site_id', { deterministic: true }, () => Buffer.from(self, 'hex'))
}
