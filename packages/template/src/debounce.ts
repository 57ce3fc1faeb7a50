/**
 * When to render after changes: Corrosion re-renders 100 ms after the last change. A trailing
 * debounce alone never renders while changes keep coming, so a render is also due at most
 * `maxDelayMs` after the first change not rendered yet. Pure.
 */
export interface DebounceOptions {
  /** Quiet time after the last change before rendering, in ms. */
  debounceMs: number
  /** Longest time a change waits for a render under a steady stream of changes, in ms. */
  maxDelayMs: number
}

export const DEBOUNCE_DEFAULTS: DebounceOptions = { debounceMs: 100, maxDelayMs: 1000 }

/** The time a render is due, given the first and the last change not rendered yet. */
export function renderDueAt(firstChangeAt: number, lastChangeAt: number, o: DebounceOptions): number {
  return Math.min(lastChangeAt + o.debounceMs, firstChangeAt + Math.max(o.maxDelayMs, o.debounceMs))
}
