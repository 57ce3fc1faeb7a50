/**
 * The root logger, created once from `config.log` by the CLI (or a test) and injected into
 * components, which call `componentLogger(logger, 'sync')` (never `logger.child({ component })`:
 * under another component that writes the key twice; `componentLogger` nests the names, e.g.
 * `cluster/sync`). No module imports a global logger.
 *
 * pino copies the level into a child when the child is created, so {@link setLogLevel} walks
 * every child created from the root (tracked through pino's `onChild` hook) to change the level
 * at runtime (`patina log set debug` through the admin socket).
 */
import { pino, type DestinationStream, type Logger } from 'pino'
import { PinoPretty } from 'pino-pretty'
import type { LogLevel } from '../config/schema.js'

export { componentLogger } from '@patina/client'

export interface LogOptions {
  format: 'json' | 'pretty'
  level: LogLevel
  colors: boolean
}

export interface CreateLoggerOptions {
  /** Where lines go: a file descriptor (1 = stdout, the default; 2 = stderr) or a stream. */
  destination?: 1 | 2 | DestinationStream
  /** Fields on every line, e.g. `{ node: 'worker-1' }`. */
  base?: Record<string, unknown>
}

/** Children of each root, held weakly so short-lived children can be collected. */
const FAMILIES = new WeakMap<Logger, Set<WeakRef<Logger>>>()

/** Creates the root logger: one JSON object per line, or pino-pretty text. */
export function createLogger(opts: LogOptions, create: CreateLoggerOptions = {}): Logger {
  const family = new Set<WeakRef<Logger>>()
  const onChild = (child: Logger) => {
    family.add(new WeakRef(child))
  }
  const dest = create.destination ?? 1
  const stream: DestinationStream =
    opts.format === 'pretty'
      ? PinoPretty({
          colorize: opts.colors,
          destination: typeof dest === 'number' ? dest : (dest as unknown as NodeJS.WritableStream),
          sync: true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname',
          messageFormat: '{if component}[{component}] {end}{msg}',
          hideObject: false,
        })
      : typeof dest === 'number'
        ? pino.destination({ dest, sync: true })
        : dest
  const logger = pino({ level: opts.level, base: create.base ?? {}, onChild }, stream)
  FAMILIES.set(logger, family)
  return logger
}

/** Changes the level of a root logger created by {@link createLogger} and of all its descendants. */
export function setLogLevel(root: Logger, level: LogLevel): void {
  root.level = level
  const family = FAMILIES.get(root)
  if (!family) return
  for (const ref of family) {
    const child = ref.deref()
    if (child === undefined) family.delete(ref)
    else child.level = level
  }
}
