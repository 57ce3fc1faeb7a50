import { PatinaError } from '@patina/api'
import Database from 'better-sqlite3'
import type { Database as Db } from 'better-sqlite3'

/**
 * Writes a consistent copy of the database (`VACUUM INTO`: one read transaction, compacted)
 * that can seed a new node: the copy loses this node's identity (actor id and db_version), so
 * the node opened on it takes a new actor id instead of impersonating this one, and keeps every
 * actor's books so it only syncs what it lacks.
 */
export function backupTo(db: Db, path: string): void {
  try {
    db.prepare(`VACUUM INTO ?`).run(path)
    const copy = new Database(path)
    try {
      copy.exec(`DELETE FROM __patina_meta WHERE key IN ('actor_id', 'db_version')`)
    } finally {
      copy.close()
    }
  } catch (err) {
    throw new PatinaError('PATINA_ERR_BACKUP', `backup to ${path} failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
}
