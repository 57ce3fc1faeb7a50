/**
 * The admin commands, each spelled once: its wire name, the words of its text form, its
 * argument, its help, its CLI words and the handler it calls. The protocol's schema and text
 * parser (`protocol.ts`), the server's dispatch (`server.ts`) and the CLI commands
 * (`cli/commands/admin.ts`) are derived from this table.
 */
import { z } from 'zod'
import { LOG_LEVELS, type LogLevel } from '../config/schema.js'

/** What the agent exposes through the socket. Each result must be JSON-serializable. */
export interface AdminHandlers {
  /** Re-apply the schema files (`db.schema_paths`); resolves to a summary of what changed. */
  reload(): Promise<unknown> | unknown
  /** The member table (same entries as `GET /v1/cluster/members`). */
  members(): Promise<unknown> | unknown
  /** Sync state: heads, gaps, last sync per peer... */
  syncStatus(): Promise<unknown> | unknown
  /** Live subscriptions: id, SQL, consumers, last change id... */
  subsList(): Promise<unknown> | unknown
  /** Change the root log level (use `setLogLevel` from `log.ts`). */
  logLevel(level: LogLevel): Promise<unknown> | unknown
  /** Write a backup of the running node's database to `path` (engine.backup). */
  backup(path: string): Promise<unknown> | unknown
}

type Shape = Record<string, z.ZodType>

/** What the protocol, the server and the CLI read of a command. */
export interface AdminCommandInfo {
  /** Name on the wire (`{"cmd": …}`). */
  readonly cmd: string
  /** Text form (`sync status`), followed by the argument if any. */
  readonly words: readonly string[]
  /** The argument's name (the one key of `args`), if the command takes one: the rest of the text form. */
  readonly arg?: string
  /** The argument's help (CLI) and allowed values (CLI help and check; text form). */
  readonly argHelp?: string
  readonly choices?: readonly string[]
  readonly help: string
  /** CLI words (`patina sync status`) when the CLI offers it as an admin-socket command of its own. */
  readonly cli?: readonly string[]
  run(handlers: AdminHandlers, args: Record<string, unknown>): unknown
}

interface AdminCommandSpec<C extends string, S extends Shape> {
  cmd: C
  words: readonly string[]
  /** At most one argument. */
  args: S
  argHelp?: string
  choices?: readonly string[]
  help: string
  cli?: readonly string[]
  run(handlers: AdminHandlers, args: z.infer<z.ZodObject<S>>): unknown
}

const command = <C extends string, S extends Shape = Record<never, never>>(
  spec: AdminCommandSpec<C, S>,
): AdminCommandInfo & { schema: z.ZodObject<{ cmd: z.ZodLiteral<C> } & S> } => {
  const keys = Object.keys(spec.args)
  const schema = z.strictObject({ cmd: z.literal(spec.cmd), ...spec.args }) as z.ZodObject<
    { cmd: z.ZodLiteral<C> } & S
  >
  return {
    ...spec,
    ...(keys[0] !== undefined ? { arg: keys[0] } : {}),
    run: spec.run as AdminCommandInfo['run'],
    schema,
  }
}

const ping = command({
  cmd: 'ping',
  words: ['ping'],
  args: {},
  help: 'Whether an agent answers (its pid)',
  run: () => ({ pong: true, pid: process.pid }),
})
const reload = command({
  cmd: 'reload',
  words: ['reload'],
  args: {},
  help: 'Re-apply the schema files (db.schema_paths) on the running agent, through the admin socket',
  cli: ['reload'],
  run: (h) => h.reload(),
})
const members = command({
  cmd: 'members',
  words: ['members'],
  args: {},
  help: 'The member table (the CLI asks the HTTP API instead: `patina cluster members`)',
  run: (h) => h.members(),
})
const syncStatus = command({
  cmd: 'sync-status',
  words: ['sync', 'status'],
  args: {},
  help: "Show this node's sync state: heads, gaps and recent sync sessions",
  cli: ['sync', 'status'],
  run: (h) => h.syncStatus(),
})
const subsList = command({
  cmd: 'subs-list',
  words: ['subs', 'list'],
  args: {},
  help: 'List the live subscriptions on this node',
  cli: ['subs', 'list'],
  run: (h) => h.subsList(),
})
const logLevel = command({
  cmd: 'log-level',
  words: ['log', 'level'],
  args: { level: z.enum(LOG_LEVELS) },
  argHelp: 'the new level',
  choices: LOG_LEVELS,
  help: 'Change the log level of the running agent until it restarts',
  cli: ['log', 'set'],
  run: (h, a) => h.logLevel(a.level),
})
const backup = command({
  cmd: 'backup',
  words: ['backup'],
  args: { path: z.string().min(1) },
  argHelp: 'the file to write',
  help: 'Write a backup of the running database (the CLI: `patina backup`, which also works offline)',
  run: (h, a) => h.backup(a.path),
})

/** Every admin command, in the order of help texts. */
export const ADMIN_COMMANDS: readonly AdminCommandInfo[] = [
  ping,
  reload,
  members,
  syncStatus,
  subsList,
  logLevel,
  backup,
]

/** Descriptions of the CLI's command groups that hold admin commands (`patina sync …`). */
export const ADMIN_CLI_GROUPS: Readonly<Record<string, string>> = {
  sync: 'Anti-entropy sync (admin socket)',
  subs: 'Subscriptions (admin socket)',
  log: 'Logging of the running agent (admin socket)',
}

export const AdminCommandSchema = z.discriminatedUnion('cmd', [
  ping.schema,
  reload.schema,
  members.schema,
  syncStatus.schema,
  subsList.schema,
  logLevel.schema,
  backup.schema,
])
export type AdminCommand = z.infer<typeof AdminCommandSchema>

/** The text form of a command, with its argument as `<name>`: `log level <level>`. */
export function adminTextForm(c: AdminCommandInfo): string {
  const arg = c.arg === undefined ? '' : ` <${c.choices?.join('|') ?? c.arg}>`
  return c.words.join(' ') + arg
}

/** Runs `cmd` on `handlers`. */
export function runAdminCommand(handlers: AdminHandlers, cmd: AdminCommand): unknown {
  const spec = ADMIN_COMMANDS.find((c) => c.cmd === cmd.cmd)
  // the schema admits only the table's names
  if (spec === undefined) throw new Error(`unknown admin command ${cmd.cmd}`)
  return spec.run(handlers, cmd)
}
