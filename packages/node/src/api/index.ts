export { buildApi, ENDPOINT_NAME_HEADER, type ApiDeps } from './app.js'
export {
  createApiOptions,
  validateApiOptions,
  DEFAULT_API_OPTIONS,
  type ApiOptions,
  type ApiOptionsInit,
  type ApiToken,
  type TokenRole,
  type LimitedRoute,
} from './options.js'
export { parseStatement, parseParam } from './statements.js'
export { evaluateHealth, type HealthThresholds, type HealthFacts } from './health.js'
