// Connectivity and admin verbs of the Host namespace: ping, ping2, confirmConnectivity, setLogLevel, and
// echo (a test verb that also serves the RPC benchmark's large-response case).
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';

export interface HostBasicDeps {
  /** LogManager (src/observability/logging.ts): setLevel throws on an unknown level. */
  logManager: { setLevel(level: string, name?: string): void };
  /** Called by confirmConnectivity/ping: cancels a pending setupNetworks rollback when one exists. */
  onConnectivityConfirmed?: () => void;
}

const LOG_LEVELS = ['CRITICAL', 'CRIT', 'DEBUG', 'ERROR', 'INFO', 'WARNING', 'WARN'] as const;

export const apiMethods: ApiMethodsFactory<HostBasicDeps> = (deps) => {
  const methods: MethodSpec[] = [
    {
      name: 'Host.ping2',
      description: 'Pure liveness check with no side effects; the engine polls it with a 2 s timeout.',
      params: [],
      result: s.bool(),
      resultDescription: 'Always `true`.',
      handler: () => true,
    },
    {
      name: 'Host.confirmConnectivity',
      description: 'Confirms the engine can reach the host after setupNetworks (cancels the automatic rollback).',
      params: [],
      result: s.bool(),
      resultDescription: 'Always `true`.',
      handler: () => {
        deps.onConnectivityConfirmed?.();
        return true;
      },
    },
    {
      name: 'Host.ping',
      description: 'Deprecated: liveness check that also confirms connectivity.',
      params: [],
      result: s.bool(),
      resultDescription: 'Always `true`.',
      handler: () => {
        deps.onConnectivityConfirmed?.();
        return true;
      },
    },
    {
      name: 'Host.setLogLevel',
      description: 'Change a logger level at run time (not persisted across restarts).',
      params: [
        { name: 'level', type: s.enumOf(LOG_LEVELS), description: 'vdsm level name.' },
        { name: 'name', type: s.string(), default: '', description: "Logger name; '' is the root logger." },
      ],
      result: s.bool(),
      resultDescription: 'Always `true`.',
      handler: ({ level, name }) => {
        deps.logManager.setLevel(level as string, name as string);
        return true;
      },
    },
    {
      name: 'Host.echo',
      description: 'Returns its argument; for tests. With `size` it returns a string of that many bytes instead (benchmarks). `message` is required, as in vdsm.',
      params: [
        { name: 'message', type: s.any(), description: 'Any JSON value, returned as is.' },
        { name: 'size', type: s.int(), optional: true, description: 'Return a string of this many bytes instead (at most 16 MiB).' },
      ],
      result: s.any(),
      resultDescription: 'The message, or a string of `size` bytes.',
      handler: ({ message, size }) => {
        if (typeof size === 'number') return 'x'.repeat(Math.max(0, Math.min(size, 16 * 1024 * 1024)));
        return message;
      },
    },
  ];
  return methods;
};
