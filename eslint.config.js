// Lint rules that catch what bites a daemon: dropped promises, loose equality, bare built-in imports.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'results/**', '**/*.js', '**/*.cjs', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      eqeqeq: ['error', 'always'],
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(fs|net|tls|os|path|url|util|events|stream|crypto|child_process|worker_threads|http|https|dgram|dns|zlib|perf_hooks|diagnostics_channel|assert|timers|readline|buffer|process|v8|inspector)(/.*)?$', message: 'Use the node: prefix for built-in modules.' }] }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
