// The VM verbs that act through the guest agents (vdsm's desktopLock / desktopLogin / desktopLogoff /
// desktopSendHcCommand): the command goes to the VM's ovirt-guest-agent channel, and, as in vdsm, the
// answer is `true` when that agent is responsive and error 19 when it is not.
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';
import type { GuestActionsPort, VmPort } from './ports.js';

export interface VmGuestApiDeps {
  vms: Pick<VmPort, 'info'>;
  guest: GuestActionsPort;
}

const vmID = { name: 'vmID', type: s.string(), description: 'The VM UUID.' } as const;
const RESULT = '`true` when the oVirt guest agent is responsive (the command was sent); error 19 (Guest agent non-responsive) otherwise, error 1 for an unknown VM.';

export const apiMethods: ApiMethodsFactory<VmGuestApiDeps> = (deps) => {
  // NO_VM (error 1) for an unknown VM, before anything is sent.
  const vmId = (id: unknown): string => deps.vms.info(id as string).vmId;
  const methods: MethodSpec[] = [
    {
      name: 'VM.desktopLock',
      description: 'Lock the user session in the guest (the oVirt guest agent\'s `lock-screen`).',
      params: [vmID],
      result: s.bool(),
      resultDescription: RESULT,
      handler: ({ vmID: id }) => deps.guest.desktopLock(vmId(id)),
    },
    {
      name: 'VM.desktopLogin',
      description: 'Log a user into the guest (the oVirt guest agent\'s `login`, as user@domain when a domain is given).',
      params: [
        vmID,
        { name: 'domain', type: s.string(), description: 'The user\'s domain; empty for a local user.' },
        { name: 'username', type: s.string(), description: 'The user name.' },
        { name: 'password', type: s.string(), description: 'The password (never logged).' },
      ],
      result: s.bool(),
      resultDescription: RESULT,
      handler: ({ vmID: id, domain, username, password }) => deps.guest.desktopLogin(vmId(id), domain as string, username as string, password as string),
    },
    {
      name: 'VM.desktopLogoff',
      description: 'Log the user off the guest (the oVirt guest agent\'s `log-off`).',
      params: [vmID, { name: 'force', type: s.bool(), default: false, description: 'Accepted for compatibility (the agent has no forced log-off).' }],
      result: s.bool(),
      resultDescription: RESULT,
      handler: ({ vmID: id }) => deps.guest.desktopLogoff(vmId(id)),
    },
    {
      name: 'VM.desktopSendHcCommand',
      description: 'Send a raw command name to the oVirt guest agent (desktop integration).',
      params: [vmID, { name: 'message', type: s.string(), description: 'The command name.' }],
      result: s.bool(),
      resultDescription: RESULT,
      handler: ({ vmID: id, message }) => deps.guest.desktopSendHcCommand(vmId(id), message as string),
    },
  ];
  return methods;
};
