import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const BY_EXPORTS = { group: ['@patina/*/src/*'], message: 'import packages by their exports only' }
const WORKER_ONLY = ['better-sqlite3', 'libp2p', '@libp2p/*', '@chainsafe/*']

/**
 * Files that may not import `group` (besides reaching into another package's `src/`); `ignores`
 * are the files of that set the rule allows. A later block for the same file replaces the
 * `no-restricted-imports` of an earlier one, so each block states its whole rule.
 */
const restrict = (files, group, message, ignores = []) => ({
  files,
  ignores,
  rules: { 'no-restricted-imports': ['error', { patterns: [BY_EXPORTS, { group, message }] }] },
})

export default tseslint.config(
  // .pnpm-store: pnpm puts its store inside the checkout when the checkout is a mount point.
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.pnpm-store/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': ['error', { patterns: [BY_EXPORTS] }],
    },
  },
  // The client library depends on @patina/api and undici only; the edge daemon adds its small
  // server stack but never the worker's (no native module, no libp2p).
  restrict(
    ['packages/client/src/**/*.ts'],
    [
      '@patina/core',
      '@patina/node',
      '@patina/edge',
      'fastify',
      'pino',
      'prom-client',
      'zod',
      'smol-toml',
      ...WORKER_ONLY,
    ],
    '@patina/client depends on @patina/api and undici only',
  ),
  // Templates run inside the edge too: the same rule as the edge, and never the edge itself.
  restrict(
    ['packages/template/src/**/*.ts'],
    ['@patina/core', '@patina/node', '@patina/edge', 'fastify', ...WORKER_ONLY],
    '@patina/template runs in the edge: no worker code, no native module, no libp2p',
  ),
  restrict(
    ['packages/edge/src/**/*.ts'],
    ['@patina/core', '@patina/node', 'fastify', ...WORKER_ONLY],
    '@patina/edge carries no worker code, no native module and no libp2p',
  ),
  // Layering (docs/architecture.md): api depends on nothing of ours; core never reaches the
  // node, client or edge; only core's store opens SQLite; only the node's transport speaks libp2p.
  restrict(
    ['packages/api/src/**/*.ts', 'packages/core/src/**/*.ts'],
    ['@patina/node', '@patina/client', '@patina/edge', ...WORKER_ONLY],
    'api and core sit below the node: no node, client or edge code, no libp2p; only core/src/store opens SQLite',
    ['packages/core/src/store/**'],
  ),
  restrict(
    ['packages/core/src/store/**/*.ts'],
    ['@patina/node', '@patina/client', '@patina/edge', 'libp2p', '@libp2p/*', '@chainsafe/*'],
    'core never imports the node, client or edge, nor libp2p',
  ),
  restrict(
    ['packages/node/src/**/*.ts'],
    [...WORKER_ONLY, '@patina/edge'],
    'in the node only transport/libp2p.ts imports libp2p; SQLite is reached through @patina/core; the node does not depend on the edge',
    ['packages/node/src/transport/libp2p.ts'],
  ),
  {
    files: ['packages/*/src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "CallExpression[callee.property.name='child'] > ObjectExpression > Property[key.name='component']",
          message:
            "use componentLogger(parent, 'name'): a child bound to `component` under another component writes the key twice",
        },
      ],
    },
  },
)
