/**
 * A changeset recorder for the multi-process campaigns: a libp2p node of the harness that is a
 * sync CLIENT only. It dials every worker's real gossip port (not the partition proxies, so the
 * nemesis never cuts it), asks for what it lacks with the documented sync exchange
 * (docs/protocol.md §4: SyncRequest → SyncChanges… → SyncEnd), keeps every changeset it is sent,
 * and applies them to its own in-memory engine only so that its next request asks for news.
 * It subscribes to no topic and serves nothing, so it never carries data across a partition.
 *
 * Changes overwritten before the recorder saw them are absent from its history; the winners
 * never are (a final round after healing fetches every surviving change). So the reference
 * model applied to the recorded history must give exactly the workers' rows.
 */
import { createRequire } from 'node:module'
import {
  createStateEngine,
  decodeChangeset,
  encodeSyncState,
  type FullChangeset,
  type StateEngine,
} from '@patina/core'
import { createLibp2pTransport, type Transport } from '@patina/node'
import { CHAOS_SCHEMA } from './workload.js'

const nodeRequire = createRequire(new URL('../../../packages/node/package.json', import.meta.url))
const { Packr } = nodeRequire('msgpackr') as {
  Packr: new (o: object) => { pack(v: unknown): Uint8Array; unpack(b: Uint8Array): unknown }
}
const packr = new Packr({ useRecords: false })

const SYNC_PROTOCOL = '/patina/sync/1'
const KIND = { SyncRequest: 3, SyncChanges: 4, SyncEnd: 5, SyncReject: 6 } as const

export interface Recorder {
  readonly engine: StateEngine
  /** Every full changeset received, in arrival order (duplicates possible). */
  readonly history: FullChangeset[]
  readonly stats: { sessions: number; rejected: number; failed: number; changesets: number }
  /** One sync session with the worker at `addr` (`host:port` of its real gossip port). */
  syncFrom(addr: string, timeoutMs?: number): Promise<boolean>
  stop(): Promise<void>
}

export async function createRecorder(clusterId = '0'): Promise<Recorder> {
  const transport: Transport = createLibp2pTransport({
    listen: ['127.0.0.1:0'],
    maxMessageBytes: 16 * 1024 * 1024,
  })
  await transport.start()
  const engine = createStateEngine({ path: ':memory:', schema: CHAOS_SCHEMA })
  const history: FullChangeset[] = []
  const stats = { sessions: 0, rejected: 0, failed: 0, changesets: 0 }

  const session = async (addr: string, signal: AbortSignal): Promise<boolean> => {
    const peer = await transport.dial(addr, { signal })
    const s = await transport.openStream(peer, SYNC_PROTOCOL)
    const onAbort = (): void => s.abort(new Error('recorder sync timed out'))
    signal.addEventListener('abort', onAbort)
    try {
      await s.send(packr.pack([1, clusterId, KIND.SyncRequest, encodeSyncState(engine.syncState())]))
      await s.close()
      for await (const frame of s.frames()) {
        const [, , kind, body] = packr.unpack(frame) as [number, string, number, unknown]
        if (kind === KIND.SyncChanges) {
          const list = (body as Uint8Array[]).map((b) => decodeChangeset(b))
          for (const cs of list) if (cs.kind === 'full') history.push(cs)
          stats.changesets += list.length
          engine.apply(list)
        } else if (kind === KIND.SyncReject) {
          stats.rejected++
          return false
        } else if (kind === KIND.SyncEnd) {
          stats.sessions++
          return true
        }
      }
      return false
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  return {
    engine,
    history,
    stats,
    async syncFrom(addr, timeoutMs = 10_000) {
      try {
        return await session(addr, AbortSignal.timeout(timeoutMs))
      } catch {
        stats.failed++ // worker down, paused or busy: next round
        return false
      }
    },
    async stop() {
      await transport.stop()
      engine.close()
    },
  }
}
