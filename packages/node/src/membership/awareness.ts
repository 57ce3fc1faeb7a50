/**
 * Local health awareness (Lifeguard's LHA-Probe, memberlist `awareness.go`), as pure functions.
 *
 * A node that is itself slow — a busy event loop, a long synchronous SQLite statement, a
 * starved CPU — sees its probes time out although the members it probes are fine, and would
 * suspect healthy members. The awareness score measures how much this node should distrust
 * its own timing: it rises when probes fail in ways that point at us (helpers that did not
 * answer either, timers that fired late) and falls with every probe answered in time. Probe
 * intervals and timeouts are scaled by `score + 1`, so an unhealthy node probes less often
 * and waits longer before suspecting anyone.
 */

/** Largest timeout multiplier (memberlist `AwarenessMaxMultiplier`): the score stays in `[0, max - 1]`. */
export const AWARENESS_MAX_MULTIPLIER = 8

/** The score after applying `delta`, clamped to `[0, max - 1]`. */
export function applyAwarenessDelta(score: number, delta: number, max = AWARENESS_MAX_MULTIPLIER): number {
  return Math.max(0, Math.min(max - 1, score + delta))
}

/** `ms` scaled by the score: `ms × (score + 1)`. */
export function scaleByAwareness(ms: number, score: number): number {
  return ms * (score + 1)
}

/** What one probe round observed, for {@link probeAwarenessDelta}. */
export interface ProbeObservation {
  /** The direct probe was answered in time. */
  direct: boolean
  /** Members asked to probe indirectly. */
  helpers: number
  /** Helpers that answered at all (with or without reaching the target) in time. */
  helperAnswers: number
  /** Our own timers fired late while waiting (see {@link firedLate}): the round tells nothing about the target. */
  stalled: boolean
}

/**
 * The score change after one probe round (memberlist `probeNode`, plus the stall rule):
 * - answered directly: −1 (we are healthy enough);
 * - our own timers fired late: +1, whatever else happened;
 * - failed with helpers: +1 per helper that did not answer (their silence points at us, since
 *   they are assumed healthy); all helpers answering (with a nack) says the target is the problem: 0;
 * - failed with no helper to ask: +1.
 */
export function probeAwarenessDelta(o: ProbeObservation): number {
  if (o.stalled) return 1
  if (o.direct) return -1
  if (o.helpers === 0) return 1
  return Math.max(0, o.helpers - o.helperAnswers)
}

/**
 * Whether a wait of `expectedMs` that took `elapsedMs` was stretched by this node rather than
 * by the network: the timer fired late by at least half the wait (and at least `minLateMs`).
 * An answer that arrived while our event loop was blocked is only seen after the timeout timer
 * fires (Node runs due timers before reading sockets), so a late timer makes a timeout
 * inconclusive.
 */
export function firedLate(elapsedMs: number, expectedMs: number, minLateMs = 50): boolean {
  return elapsedMs - expectedMs >= Math.max(minLateMs, expectedMs / 2)
}
