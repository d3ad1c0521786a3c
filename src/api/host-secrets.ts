// Host.registerSecrets / unregisterSecrets: libvirt secrets for Ceph disks, encrypted volumes and iSCSI.
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';

export interface HostSecretsDeps {
  secrets: {
    register(secrets: readonly unknown[], clear: boolean): Promise<true>;
    unregister(uuids: readonly unknown[]): Promise<true>;
  };
}

const secret = s.named('Secret', s.object({
  uuid: s.field(s.string(), 'The secret UUID.'),
  usageType: s.field(s.enumOf(['ceph', 'volume', 'iscsi']), 'What the secret is for.'),
  usageID: s.field(s.string(), 'libvirt usage id (the engine uses "ovirt/<uuid>").'),
  password: s.field(s.string(), 'The value, base64-encoded (never logged).'),
  description: s.optional(s.string(), 'Shown by libvirt.'),
}));

export const apiMethods: ApiMethodsFactory<HostSecretsDeps> = (deps) => {
  const methods: MethodSpec[] = [
    {
      name: 'Host.registerSecrets',
      description: 'Define libvirt secrets (ephemeral, private) and set their values; a secret of the same uuid with another usage id is replaced. With `clear`, every other oVirt secret (usage id `ovirt/...`) is removed.',
      params: [
        { name: 'secrets', type: s.array(secret), description: 'The secrets to register.' },
        { name: 'clear', type: s.bool(), default: false, description: 'Remove the oVirt secrets not in `secrets`.' },
      ],
      result: s.bool(),
      resultDescription: '`true`; error 72 for a malformed secret (nothing registered), 73 when libvirt refuses one.',
      handler: ({ secrets, clear }) => deps.secrets.register(secrets as unknown[], clear as boolean),
    },
    {
      name: 'Host.unregisterSecrets',
      description: 'Remove libvirt secrets by uuid; unknown ones are skipped.',
      params: [{ name: 'uuids', type: s.array(s.string()), description: 'Secret UUIDs.' }],
      result: s.bool(),
      resultDescription: '`true`; error 72 for a malformed uuid, 74 when libvirt refuses.',
      handler: ({ uuids }) => deps.secrets.unregister(uuids as unknown[]),
    },
  ];
  return methods;
};
