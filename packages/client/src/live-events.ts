/**
 * The consumer side of a live subscription: listeners (`on`/`off`) and async iterators, each
 * iterator with its own bounded queue. No decisions about workers here.
 */
import type { ClientLogger, LiveEvent, LiveListeners, Listener } from './types.js'
import { PatinaClientError } from './errors.js'

interface Cursor {
  buf: LiveEvent[]
  wake: (() => void) | null
  error: unknown
  done: boolean
}

export interface EventHub {
  /** Calls the listeners of `k` (a listener that throws is logged, not propagated). */
  emit<K extends keyof LiveListeners>(k: K, v: Parameters<LiveListeners[K]>[0]): void
  /** Queues an event for every iterator and calls the `event` listeners. */
  push(ev: LiveEvent): void
  on<K extends keyof LiveListeners>(k: K, l: LiveListeners[K]): void
  off<K extends keyof LiveListeners>(k: K, l: LiveListeners[K]): void
  /** A new iterator, receiving the events pushed from now on. `endedNow`: it starts finished. */
  iterator(endedNow: () => boolean): AsyncIterator<LiveEvent>
  /** Every iterator throws `err` once its queue is drained. */
  fail(err: unknown): void
  /** Every iterator ends. */
  end(): void
}

export function createEventHub(maxQueued: number, log: ClientLogger): EventHub {
  const listeners: { [K in keyof LiveListeners]: Set<LiveListeners[K]> } = {
    change: new Set(),
    event: new Set(),
    status: new Set(),
    error: new Set(),
  }
  const cursors = new Set<Cursor>()
  const hub: EventHub = {
    emit(k, v) {
      for (const l of [...listeners[k]]) {
        try {
          ;(l as Listener<typeof v>)(v)
        } catch (err) {
          log.warn({ err, listener: k }, 'live subscription listener threw')
        }
      }
    },
    push(ev) {
      for (const c of cursors) {
        if (c.done || c.error !== undefined) continue
        if (c.buf.length >= maxQueued) {
          c.buf = []
          c.error = new PatinaClientError(
            'PATINA_ERR_SLOW_CONSUMER',
            `live subscription iterator fell behind by more than maxQueuedEvents ${maxQueued} events`,
          )
        } else c.buf.push(ev)
        c.wake?.()
      }
      hub.emit('event', ev)
    },
    on(k, l) {
      ;(listeners[k] as Set<typeof l>).add(l)
    },
    off(k, l) {
      ;(listeners[k] as Set<typeof l>).delete(l)
    },
    iterator(endedNow) {
      const c: Cursor = { buf: [], wake: null, error: undefined, done: endedNow() }
      cursors.add(c)
      return {
        async next(): Promise<IteratorResult<LiveEvent>> {
          for (;;) {
            const ev = c.buf.shift()
            if (ev !== undefined) return { value: ev, done: false }
            if (c.error !== undefined) {
              cursors.delete(c)
              const e = c.error
              c.error = undefined
              c.done = true
              throw e
            }
            if (c.done) {
              cursors.delete(c)
              return { value: undefined, done: true }
            }
            await new Promise<void>((r) => (c.wake = r))
            c.wake = null
          }
        },
        async return(): Promise<IteratorResult<LiveEvent>> {
          c.done = true
          cursors.delete(c)
          return { value: undefined, done: true }
        },
      }
    },
    fail(err) {
      for (const c of cursors) {
        c.error = err
        c.wake?.()
      }
    },
    end() {
      for (const c of cursors) {
        c.done = true
        c.wake?.()
      }
    },
  }
  return hub
}
