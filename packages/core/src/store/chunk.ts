import { valueSize } from '../crdt/values.js'
import type { ActorId, Change, FullChangeset } from '../types.js'

/**
 * Approximate encoded size of one change, for chunking: the same estimate for a fresh local
 * commit and for a version served to a peer, so both split at the same sizes.
 */
export const changeSize = (c: Change): number => c.pk.length + c.cid.length + valueSize(c.val) + 16

/**
 * Splits a version's changes (in seq order) into chunks of about `maxBytes`, together covering
 * `0..lastSeq`: each chunk's `seqStart..seqEnd` runs up to where the next one starts, so a
 * receiver knows the version is complete once it holds chunks covering the whole range.
 */
export function chunkChanges(
  actorId: ActorId,
  version: number,
  ts: number,
  lastSeq: number,
  changes: Change[],
  maxBytes: number,
): FullChangeset[] {
  const out: FullChangeset[] = []
  let cur: Change[] = []
  let bytes = 0
  let start = 0
  for (const c of changes) {
    const size = changeSize(c)
    if (cur.length > 0 && bytes + size > maxBytes) {
      out.push({
        kind: 'full',
        actorId,
        version,
        ts,
        seqStart: start,
        seqEnd: c.seq - 1,
        lastSeq,
        changes: cur,
      })
      start = c.seq
      cur = []
      bytes = 0
    }
    cur.push(c)
    bytes += size
  }
  out.push({ kind: 'full', actorId, version, ts, seqStart: start, seqEnd: lastSeq, lastSeq, changes: cur })
  return out
}
