/**
 * What the machine's loopback offers. Docker's default network, and some CI machines, have no
 * IPv6 on `lo`: listening on `::1` fails there with EADDRNOTAVAIL (or EAFNOSUPPORT when the
 * kernel has no IPv6 at all). Tests that need `::1` ask {@link probeIpv6Loopback} and skip with
 * its reason.
 */
import { createServer } from 'node:net'

export type Ipv6Loopback = { available: true } | { available: false; reason: string }

/** Tries to listen on `[::1]:0` (then closes at once). */
export function probeIpv6Loopback(): Promise<Ipv6Loopback> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (err: NodeJS.ErrnoException) =>
      resolve({
        available: false,
        reason: `this machine has no IPv6 loopback: listening on [::1]:0 failed with ${err.code ?? err.message}`,
      }),
    )
    server.listen(0, '::1', () => server.close(() => resolve({ available: true })))
  })
}
