// @ts-check
// Lint: ESLint's recommended rules plus typescript-eslint's type-aware set, over the sources, the
// tests and the build/bench scripts. `npm run lint` must report nothing (warnings fail it too).
import js from '@eslint/js';
import { fileURLToPath } from 'node:url';
import tseslint from 'typescript-eslint';

/** Node's globals, for the plain-JavaScript scripts (TypeScript files get them from @types/node). */
/** @type {Record<string, 'readonly'>} */
const nodeGlobals = Object.fromEntries(
  [
    'process',
    'console',
    'Buffer',
    'URL',
    'performance',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'structuredClone',
    'TextEncoder',
    'TextDecoder',
    'AbortController',
  ].map((name) => [name, 'readonly']),
);

export default tseslint.config(
  { ignores: ['dist/**', 'coverage/**', 'node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.json', './tsconfig.scripts.json'],
        tsconfigRootDir: fileURLToPath(new URL('.', import.meta.url)),
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Port implementations are `async` to honour a Promise-returning interface and to turn a throw
      // into a rejection; an `await` inside is not what makes them right.
      '@typescript-eslint/require-await': 'off',
      // `_name` marks a parameter an interface requires but this implementation does not use.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // A `let` declared before a closure that reads it and assigned once afterwards stays a `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Names and topics are checked for control characters on purpose (EMQX refuses them).
      'no-control-regex': 'off',
    },
  },
  {
    // vitest's asymmetric matchers (expect.stringContaining, expect.any, ...) are typed `any`.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  {
    // Plain JavaScript: its values are `any` to the linter, so the no-unsafe family would flag every
    // line. tsc --checkJs (tsconfig.scripts.json) type-checks these files instead.
    files: ['**/*.mjs'],
    languageOptions: { globals: nodeGlobals },
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
