/**
 * Side-effect module: libp2p 3 calls `Promise.withResolvers`, which Node 20 lacks.
 * Import it (`import './polyfill.js'`) before anything that loads libp2p.
 * Same code as `scripts/polyfill.mjs`.
 */
const P = Promise as unknown as { withResolvers?: unknown }
if (typeof P.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>(this: PromiseConstructor) {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new this<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}
export {}
