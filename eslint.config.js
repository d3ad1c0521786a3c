// Lint rules that catch what bites a daemon: dropped promises, loose equality, bare built-in imports.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodePrefix = { regex: '^(fs|net|tls|os|path|url|util|events|stream|crypto|child_process|worker_threads|http|https|dgram|dns|zlib|perf_hooks|diagnostics_channel|assert|timers|readline|buffer|process|v8|inspector)(/.*)?$', message: 'Use the node: prefix for built-in modules.' };

// The thread boundary: a worker sees only the contracts, the error catalogue and the native binding,
// never main-thread modules (they hold state a worker must not have, and pull in their imports).
// The thread probe (a thread inspecting itself: event loop, heap, inspector profiles) is shared too: it
// imports node built-ins only and every thread, main and workers, runs one of its own.
const workerImports = {
  regex: '^(\\.\\./)+(?!src/(contracts/|errors\\.js$|libvirt/binding\\.js$|native\\.js$|native-sys\\.js$|observability/thread-probe\\.js$))(src|test|bench)/',
  message: 'workers/ may import only src/contracts/**, src/errors.ts, the native bindings (src/libvirt/binding.ts, src/native.ts, src/native-sys.ts) and src/observability/thread-probe.ts.',
};

// src/ never reaches into the workers' tree: what crosses the boundary is declared in src/contracts/.
const srcToWorkers = { regex: '^(\\.\\./)+workers/', message: 'Import the operation types from src/contracts/, not from workers/.' };

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'results/**', '**/*.js', '**/*.cjs', '**/*.mjs', 'test/contracts/type-fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      eqeqeq: ['error', 'always'],
      'no-restricted-imports': ['error', { patterns: [nodePrefix] }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['workers/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [nodePrefix, workerImports] }] },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [nodePrefix, srcToWorkers] }] },
  },
  ...layers(),
);

/**
 * The layers of src/, bottom up: contracts (types and constants, importing nothing); the pure and
 * runtime parts (runtime, libvirt, virt, host, observability, config); api (verbs against narrow ports),
 * supervdsm (the privileged helper and its client) and services (the stateful parts, storage/ among them); rpc (transport,
 * serving api's method table); ops (the ops tools' parts) and app (the composition root); bin. Nothing
 * imports a layer above its own, and api never imports a service.
 */
function layers() {
  const above = (...folders) => ({ regex: `^(\\.\\./)+(${folders.join('|')})/`, message: `A lower layer does not import ${folders.join(', ')} (see docs/architecture.md, "Layers").` });
  const rule = (files, ...patterns) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns: [nodePrefix, srcToWorkers, ...patterns] }] } });
  return [
    rule(['src/contracts/**/*.ts'], { regex: '^\\.\\./', message: 'src/contracts/ imports nothing outside itself (types and constants only).' }),
    rule(['src/{runtime,libvirt,virt,host,observability,config,network,guest,hooks}/**/*.ts'], above('services', 'api', 'rpc', 'app', 'bin')),
    rule(['src/api/**/*.ts'], above('services', 'rpc', 'app', 'bin')),
    // supervdsm (the privileged helper's protocol, server, functions and vdsmd's client) sits beside api:
    // its functions declare parameters with api's schema language; services and app use its client.
    rule(['src/supervdsm/**/*.ts'], above('services', 'rpc', 'app', 'bin')),
    rule(['src/services/**/*.ts'], above('api', 'rpc', 'app', 'bin')),
    rule(['src/rpc/**/*.ts'], above('services', 'app', 'bin')),
    rule(['src/ops/**/*.ts'], above('services', 'app', 'bin')),
    rule(['src/app/**/*.ts'], above('bin')),
  ];
}
