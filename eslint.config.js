import js from '@eslint/js'
import tseslint from 'typescript-eslint'

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
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@patina/*/src/*'], message: 'import packages by their exports only' }] },
      ],
    },
  },
  // The client library depends on @patina/api and undici only; the edge daemon adds its small
  // server stack but never the worker's (no native module, no libp2p).
  {
    files: ['packages/client/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@patina/*/src/*'], message: 'import packages by their exports only' },
            {
              group: [
                '@patina/core',
                '@patina/node',
                '@patina/edge',
                'better-sqlite3',
                'fastify',
                'pino',
                'prom-client',
                'zod',
                'smol-toml',
                'libp2p',
                '@libp2p/*',
                '@chainsafe/*',
              ],
              message: '@patina/client depends on @patina/api and undici only',
            },
          ],
        },
      ],
    },
  },
  // Templates run inside the edge too: the same rule as the edge, and never the edge itself.
  {
    files: ['packages/template/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@patina/*/src/*'], message: 'import packages by their exports only' },
            {
              group: [
                '@patina/core',
                '@patina/node',
                '@patina/edge',
                'better-sqlite3',
                'libp2p',
                '@libp2p/*',
                '@chainsafe/*',
                'fastify',
              ],
              message: '@patina/template runs in the edge: no worker code, no native module, no libp2p',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/edge/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@patina/*/src/*'], message: 'import packages by their exports only' },
            {
              group: [
                '@patina/core',
                '@patina/node',
                'better-sqlite3',
                'libp2p',
                '@libp2p/*',
                '@chainsafe/*',
                'fastify',
              ],
              message: '@patina/edge carries no worker code, no native module and no libp2p',
            },
          ],
        },
      ],
    },
  },
  // Layering (docs/architecture.md): api depends on nothing of ours; core never reaches the
  // node, client or edge; only core's store opens SQLite; only the node's transport speaks libp2p.
  {
    files: ['packages/api/src/**/*.ts', 'packages/core/src/**/*.ts'],
    ignores: ['packages/core/src/store/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@patina/*/src/*'], message: 'import packages by their exports only' },
            {
              group: [
                '@patina/node',
                '@patina/client',
                '@patina/edge',
                'better-sqlite3',
                'libp2p',
                '@libp2p/*',
                '@chainsafe/*',
              ],
              message:
                'api and core sit below the node: no node, client or edge code, no libp2p; only core/src/store opens SQLite',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/core/src/store/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@patina/*/src/*'], message: 'import packages by their exports only' },
            {
              group: [
                '@patina/node',
                '@patina/client',
                '@patina/edge',
                'libp2p',
                '@libp2p/*',
                '@chainsafe/*',
              ],
              message: 'core never imports the node, client or edge, nor libp2p',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/node/src/**/*.ts'],
    ignores: ['packages/node/src/transport/libp2p.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@patina/*/src/*'], message: 'import packages by their exports only' },
            {
              group: ['better-sqlite3', 'libp2p', '@libp2p/*', '@chainsafe/*', '@patina/edge'],
              message:
                'in the node only transport/libp2p.ts imports libp2p; SQLite is reached through @patina/core; the node does not depend on the edge',
            },
          ],
        },
      ],
    },
  },
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
