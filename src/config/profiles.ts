// Named profiles: typed partial configurations applied over the schema defaults and under every file,
// so a daemon can start with development defaults without writing a vdsm.conf.
import type { PartialConfig } from './schema.js';

export const PROFILES = {
  /** vdsm's defaults unchanged. */
  production: {},
  /** Loopback only, plain TCP, libvirt's in-process test driver. */
  dev: {
    vars: { ssl: false },
    addresses: { management_ip: '127.0.0.1' },
    libvirt: { uri: 'test:///default' },
    devel: { embedded: true },
  },
} as const satisfies Record<string, PartialConfig>;

export type ProfileName = keyof typeof PROFILES;

export function isProfileName(name: string): name is ProfileName {
  return Object.hasOwn(PROFILES, name);
}
