/**
 * The admin interface of a running agent: newline-delimited JSON over a Unix socket
 * (`config.admin.path`). The agent calls {@link createAdminServer} with its handlers; the CLI
 * calls {@link adminRequest}.
 */
export { createAdminServer, handleAdminLine } from './server.js'
export type { AdminHandlers, AdminServer, AdminServerOptions } from './server.js'
export { adminRequest, isAdminReachable, AdminUnavailableError } from './client.js'
export type { AdminRequestOptions } from './client.js'
export { parseAdminCommand, AdminCommandSchema, ADMIN_LINE_MAX_BYTES } from './protocol.js'
export { ADMIN_COMMANDS, ADMIN_CLI_GROUPS, adminTextForm, runAdminCommand } from './commands.js'
export type { AdminCommand, AdminResponse } from './protocol.js'
