/**
 * SWIM failure detection with Lifeguard's local health awareness: one member per round is
 * pinged; on failure `indirectProbes` other members are asked to ping it (`/patina/probe/1`);
 * when none succeeds it becomes suspect; suspects that do not refute in time go down
 * (`suspicion.ts`). Down and left members are forgotten after `downRetentionMs`.
 *
 * Local health (`awareness.ts`): probe intervals and timeouts are scaled by our score + 1,
 * and a round whose timers fired late (this node was busy) decides nothing — its timeouts
 * say more about us than about the target.
 */
import type { FramedStream } from '../transport/transport.js'
import { shuffled, withTimeout } from '../runtime/clock.js'
import {
  MessageKind,
  MessageRejectedError,
  decodeEnvelope,
  encodeEnvelope,
  expectRecord,
} from '../wire/envelope.js'
import { noticeFor, probeCandidates, type Member, type MembershipUpdate } from './members.js'
import { expectedConfirmations, remainingSuspicionMs, suspicionMinMs } from './suspicion.js'
import { applyAwarenessDelta, firedLate, probeAwarenessDelta, scaleByAwareness } from './awareness.js'
import { PROBE_PROTOCOL, readOne, rejected, type MembershipEnv } from './context.js'
import type { MemberView } from './view.js'

export interface Prober {
  /** One probe round; `lateMs` is how late the round's timer fired. */
  round(lateMs: number): Promise<void>
  /** Serve an indirect probe request from another member. */
  serve(stream: FramedStream): Promise<void>
  /** The probe interval scaled by local health, ms. */
  intervalMs(): number
  /** Local health score (0 = healthy). */
  score(): number
  /** Apply a local health change (e.g. +1 when we had to refute a suspicion). */
  adjust(delta: number): void
}

export function createProber(
  env: MembershipEnv,
  view: MemberView,
  hooks: { contact: (peer: string) => void },
): Prober {
  const { opts, transport, clock, random, metrics, memberMetrics, selfActor } = env
  let probing = false
  let probeOrder: string[] = []
  let score = 0
  /** `awarenessMaxMultiplier: 1` turns local health awareness off, the stall rule included. */
  const aware = opts.awarenessMaxMultiplier > 1

  const adjust = (delta: number): void => {
    const next = applyAwarenessDelta(score, delta, opts.awarenessMaxMultiplier)
    if (next === score) return
    if (next > score)
      env.log.info({ score: next }, 'probes answered late: widening failure-detection timeouts')
    else if (next === 0)
      env.log.info('probes answered in time again: failure-detection timeouts back to normal')
    score = next
    memberMetrics.healthScore.set(score)
  }
  const scaled = (ms: number): number => scaleByAwareness(ms, score)

  const nextTarget = (): Member | undefined => {
    const candidates = probeCandidates(view.table as Map<string, Member>, selfActor)
    if (candidates.length === 0) return undefined
    for (;;) {
      if (probeOrder.length === 0) probeOrder = shuffled(candidates, random).map((m) => m.record.actorId)
      const m = view.table.get(probeOrder.shift() as string)
      if (m !== undefined && (m.state === 'alive' || m.state === 'suspect') && !m.stale) return m
      if (probeOrder.length === 0) return undefined
    }
  }

  const indirect = async (helper: string, target: string, timeoutMs: number): Promise<boolean> => {
    const stream = await transport.openStream(helper, PROBE_PROTOCOL)
    try {
      await stream.send(encodeEnvelope(opts.clusterId, MessageKind.ProbeRequest, { target, timeoutMs }))
      await stream.close()
      const frame = await readOne(stream)
      if (frame === null) throw new Error('no probe response')
      const e = decodeEnvelope(frame, {
        clusterId: opts.clusterId,
        maxBytes: 4096,
        expectKinds: [MessageKind.ProbeResponse],
      })
      return expectRecord(e.body, 'probe response')['ok'] === true
    } finally {
      stream.abort()
    }
  }

  /** This node's verdict on `m` at its current incarnation, taken and told to the cluster. */
  const declare = (t: 'suspect' | 'down', m: Member): void => {
    const notice: MembershipUpdate = {
      t,
      actorId: m.record.actorId,
      incarnation: m.record.incarnation,
      from: selfActor,
    }
    view.ingest([notice])
    view.publish([notice])
  }

  /** Suspects past their timeout go down; down and left members past retention are forgotten. */
  const checkSuspects = (): void => {
    const now = clock.now()
    const n = view.liveCount()
    const minMs = suspicionMinMs(n, opts.suspicionMult, opts.probeIntervalMs)
    const maxMs = minMs * opts.suspicionMaxTimeoutMult
    const k = expectedConfirmations(n, opts.suspicionMult)
    for (const m of [...view.table.values()]) {
      if (m.record.actorId === selfActor) continue
      if (m.state === 'suspect') {
        const confirmations = Math.max(0, m.suspectedBy.size - 1)
        if (remainingSuspicionMs(confirmations, k, now - m.stateSinceMs, minMs, maxMs) > 0) continue
        declare('down', m)
      } else if ((m.state === 'down' || m.state === 'left') && now - m.stateSinceMs > opts.downRetentionMs) {
        view.forget(m.record.actorId)
      }
    }
  }

  const probe = async (target: Member): Promise<void> => {
    const peer = target.record.peerId
    const directTimeout = scaled(opts.probeTimeoutMs)
    const started = clock.now()
    const rtt = await transport.ping(peer, { timeoutMs: directTimeout }).then(
      (ms) => ms,
      () => null,
    )
    if (rtt !== null) {
      target.rttMs = rtt
      hooks.contact(peer)
      metrics.probes.inc({ result: 'ok' })
      adjust(probeAwarenessDelta({ direct: true, helpers: 0, helperAnswers: 0, stalled: false }))
      if (target.state === 'suspect') view.publish([noticeFor(target, selfActor)]) // let it refute
      return
    }
    const stalledDirect = aware && firedLate(clock.now() - started, directTimeout)
    const helpers = shuffled(
      probeCandidates(view.table as Map<string, Member>, selfActor).filter(
        (m) => m.state === 'alive' && m.record.actorId !== target.record.actorId,
      ),
      random,
    ).slice(0, opts.indirectProbes)
    const indirectTimeout = scaled(opts.probeTimeoutMs * 3)
    const indirectStarted = clock.now()
    const answers = await Promise.all(
      helpers.map((h) =>
        withTimeout(
          clock,
          indirect(h.record.peerId, peer, directTimeout),
          indirectTimeout,
          () => new Error('timeout'),
        ).then(
          (ok) => ({ answered: true, ok }),
          () => ({ answered: false, ok: false }),
        ),
      ),
    )
    const stalled =
      stalledDirect ||
      (aware && helpers.length > 0 && firedLate(clock.now() - indirectStarted, indirectTimeout))
    const helperAnswers = answers.filter((a) => a.answered).length
    if (answers.some((a) => a.ok)) {
      metrics.probes.inc({ result: 'indirect_ok' })
      adjust(stalled ? 1 : -1) // the round succeeded (memberlist counts it like a direct ack)
      return
    }
    adjust(probeAwarenessDelta({ direct: false, helpers: helpers.length, helperAnswers, stalled }))
    if (stalled) {
      memberMetrics.probesInconclusive.inc()
      return
    }
    metrics.probes.inc({ result: 'failed' })
    const cur = view.table.get(target.record.actorId)
    if (!env.running() || cur === undefined || cur.state !== 'alive') return
    declare('suspect', cur)
  }

  return {
    async round(lateMs) {
      // Our timer fired late: the event loop was blocked, and answers (refutations included)
      // may still sit unread behind it. Decide nothing this round; let them be read first.
      if (aware && lateMs >= Math.max(opts.probeTimeoutMs, opts.probeIntervalMs / 2)) {
        memberMetrics.probesInconclusive.inc()
        adjust(1)
        return
      }
      checkSuspects()
      if (probing) return
      const target = nextTarget()
      if (target === undefined) return
      probing = true
      try {
        await probe(target)
      } finally {
        probing = false
      }
    },

    async serve(stream) {
      const frame = await withTimeout(
        clock,
        readOne(stream),
        opts.probeTimeoutMs * 2,
        () => new Error('probe request timed out'),
      )
      if (frame === null) return stream.abort()
      let target: string
      let timeoutMs: number
      try {
        const e = decodeEnvelope(frame, {
          clusterId: opts.clusterId,
          maxBytes: 4096,
          expectKinds: [MessageKind.ProbeRequest],
        })
        const body = expectRecord(e.body, 'probe request')
        if (typeof body['target'] !== 'string' || typeof body['timeoutMs'] !== 'number') {
          throw new MessageRejectedError('malformed', 'probe request needs target and timeoutMs')
        }
        target = body['target']
        timeoutMs = Math.min(
          Math.max(1, body['timeoutMs']),
          opts.probeTimeoutMs * opts.awarenessMaxMultiplier,
        )
      } catch (err) {
        rejected(env, 'probe', err, stream.remotePeer)
        return stream.abort()
      }
      const ok = await transport.ping(target, { timeoutMs }).then(
        () => true,
        () => false,
      )
      await stream.send(encodeEnvelope(opts.clusterId, MessageKind.ProbeResponse, { ok }))
      await stream.close()
    },

    intervalMs: () => scaled(opts.probeIntervalMs),
    score: () => score,
    adjust,
  }
}
