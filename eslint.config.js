import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'bench/results/**'] },
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
)
