import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/', '**/node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ignores: ['console/**'],
    languageOptions: {
      globals: Object.fromEntries(
        ['process', 'console', 'setTimeout', 'globalThis', 'Buffer', 'URL', 'URLSearchParams', 'fetch', 'Headers'].map((g) => [g, 'readonly']),
      ),
    },
  },
  {
    // the web console's plain browser modules (no build step)
    files: ['console/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'fetch', 'URL', 'URLSearchParams', 'FormData', 'Node', 'CSS', 'setTimeout', 'clearTimeout', 'crypto', 'globalThis', 'TextEncoder', 'btoa', 'atob'].map((g) => [g, 'readonly']),
      ),
    },
  },
);
