// Host.fenceNode: power management of another host through a fence agent run on this one.
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';
import { FENCE_ACTIONS, type FenceAction, type FenceRequest, type FenceResult } from '../host/fence-agent.js';

export interface HostFenceDeps {
  fence: { fence(req: FenceRequest): Promise<FenceResult> };
}

/** vdsm's conv.tobool: true, "true", "yes", "1" (any case). */
function toBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  return typeof v === 'string' && ['true', 'yes', '1'].includes(v.toLowerCase());
}

export const apiMethods: ApiMethodsFactory<HostFenceDeps> = (deps) => {
  const methods: MethodSpec[] = [
    {
      name: 'Host.fenceNode',
      description: 'Run fence agent `fence_<agent>` ([vars] fence_agent_dir) against another host\'s power management, with the options on its standard input (the password never on a command line or in a log), within [vars] fence_timeout.',
      params: [
        { name: 'addr', type: s.string(), description: 'Address of the power management device.' },
        { name: 'port', type: s.union(s.string(), s.int()), description: "The device's port or plug; '' for none." },
        { name: 'agent', type: s.string(), description: 'Fence agent name without `fence_` (ipmilan, ilo4, drac5 ...).' },
        { name: 'username', type: s.string(), description: 'Login on the device.' },
        { name: 'password', type: s.string(), description: 'Its password (never logged).' },
        { name: 'action', type: s.enumOf(FENCE_ACTIONS), description: 'status, on, off or reboot.' },
        { name: 'secure', type: s.union(s.bool(), s.string()), default: false, description: 'Use the secure protocol (`secure=yes` to the agent).' },
        { name: 'options', type: s.string(), default: '', description: 'More agent options, `key=value` lines, passed on as they are.' },
        { name: 'policy', type: s.map(s.any()), optional: true, description: 'Fencing policy (storageDomainHostIdMap ...): this host holds no storage leases to check, so the action is never skipped.' },
      ],
      result: s.named('FenceNodeResult', s.object({
        power: s.field(s.string(), 'status: on (agent exit 0) or off (2); other actions: unknown.'),
        operationStatus: s.optional(s.string(), 'on, off, reboot: initiated.'),
      })),
      resultDescription: '`{power}` for status, `{power: "unknown", operationStatus: "initiated"}` for the others. Error 43 for an agent that is not installed or not a plain name, 1 with the agent\'s output when it fails (status exit 1 or above 2; another action\'s non-zero exit) or when it was killed at the time limit.',
      handler: (p) => deps.fence.fence({
        addr: p['addr'] as string,
        port: String(p['port'] ?? ''),
        agent: p['agent'] as string,
        username: p['username'] as string,
        password: p['password'] as string,
        action: p['action'] as FenceAction,
        secure: toBool(p['secure']),
        options: (p['options'] as string | undefined) ?? '',
        ...(p['policy'] !== undefined ? { policy: p['policy'] } : {}),
      }),
    },
  ];
  return methods;
};
