/**
 * Known members remembered across restarts: a small JSON file next to the database,
 * written atomically (temp file + rename). A missing or unreadable file is an empty memory.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { MemberState } from '@patina/api'
import type { MemberRecord } from './members.js'
import { validateRecord } from './codec.js'

export interface PersistedMembers {
  /** Our last incarnation. */
  incarnation: number
  members: { record: MemberRecord; state: MemberState; updatedAtMs: number }[]
}

const FILE_VERSION = 1
const STATES = new Set<string>(['alive', 'suspect', 'down', 'left'])

export function loadMembers(path: string): PersistedMembers | null {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return null
  }
  try {
    const raw = JSON.parse(text) as { version?: unknown; incarnation?: unknown; members?: unknown }
    if (raw.version !== FILE_VERSION || !Array.isArray(raw.members)) return null
    const members: PersistedMembers['members'] = []
    for (const m of raw.members as { record?: unknown; state?: unknown; updatedAtMs?: unknown }[]) {
      try {
        const state = typeof m.state === 'string' && STATES.has(m.state) ? (m.state as MemberState) : 'down'
        members.push({ record: validateRecord(m.record), state, updatedAtMs: Number(m.updatedAtMs) || 0 })
      } catch {
        /* skip a bad entry */
      }
    }
    const incarnation =
      typeof raw.incarnation === 'number' && Number.isSafeInteger(raw.incarnation) ? raw.incarnation : 0
    return { incarnation, members }
  } catch {
    return null
  }
}

export function saveMembers(path: string, data: PersistedMembers): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.tmp`
  writeFileSync(tmp, JSON.stringify({ version: FILE_VERSION, ...data }, null, 1))
  renameSync(tmp, path)
}
