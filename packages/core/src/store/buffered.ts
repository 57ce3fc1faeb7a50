import { Packr } from 'msgpackr'
import { changesetFromWire, changesetToWire } from '../codec/changeset.js'
import type { FullChangeset } from '../types.js'
import type { Statements } from './context.js'

/**
 * Chunks of versions received in part (`__patina_buffered`), kept in their wire form until
 * every seq of the version has arrived; sync serves them as they are to peers that lack them.
 * Chunks stored before an upgrade are in changeset format 1 and are read with `legacy` (see
 * `codec/changeset.ts`); they leave this node re-encoded in the current format.
 */

const bufferPackr = new Packr({ useRecords: false, int64AsType: 'auto' as 'bigint', moreTypes: false })

type BufferStatements = Pick<Statements, 'insBuffered' | 'getBuffered' | 'delBuffered'>

/** Keeps one chunk of a partly received version (a duplicate chunk is ignored). */
export function bufferChunk(stmts: BufferStatements, site: number, cs: FullChangeset): void {
  stmts.insBuffered.run(site, cs.version, cs.seqStart, cs.seqEnd, bufferPackr.pack(changesetToWire(cs)))
}

/** The chunks kept for one version, in seq order. */
export function bufferedChunks(stmts: BufferStatements, site: number, version: number): FullChangeset[] {
  return stmts.getBuffered
    .all(site, version)
    .map((r) => changesetFromWire(bufferPackr.unpack(r.data), {}, { legacy: true }) as FullChangeset)
}

/** Drops the chunks kept for versions `from..to` (now complete, or cleared). */
export function dropBuffered(stmts: BufferStatements, site: number, from: number, to: number): void {
  stmts.delBuffered.run(site, from, to)
}
