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
    forgetIdentityOf(path)
  } catch (err) {
    throw new PatinaError('PATINA_ERR_BACKUP', `backup to ${path} failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

/**
 * Removes a database file's node identity (actor id and db_version), so that the node opened on
 * it takes a new actor id: what `patina restore` does to any file unless told to keep it, since
 * a copy may be older than what peers know of its actor. A file Patina never opened has no
 * identity to remove. The file must not be open in a running node.
 */
export function forgetIdentity(path: string): void {
  try {
    forgetIdentityOf(path)
  } catch (err) {
    throw new PatinaError(
      'PATINA_ERR_BACKUP',
      `could not remove the node identity from ${path}: ${(err as Error).message}`,
      { cause: err },
    )
  }
}

function forgetIdentityOf(path: string): void {
  const db = new Database(path)
  try {
    const meta = db
      .prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '__patina_meta'`)
      .get()
    if (meta !== undefined) db.exec(`DELETE FROM __patina_meta WHERE key IN ('actor_id', 'db_version')`)
  } finally {
    db.close()
  }
}
