import type { StateEngine } from './types.js'
import { StateStore, type StateEngineOptions } from './store/state-store.js'

export type { StateEngineOptions }

/** Open (or create) a state engine on a SQLite database. */
export function createStateEngine(opts: StateEngineOptions): StateEngine {
  return new StateStore(opts)
}
