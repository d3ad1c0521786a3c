// Named profiles: typed partial configurations applied over the schema defaults and under every file,
// so a daemon can start with development defaults without writing a vdsm.conf.
import type { PartialConfig } from './schema.js';

export const PROFILES = {
  /** vdsm's defaults unchanged. */
  production: {},
  /**
   * The README's start command: loopback only, TLS with a development PKI created on first run,
   * libvirt's test driver on a generated node XML holding a few VMs ([libvirt] uri = embedded), and fake
   * KVM, so an engine adds the host to a cluster and runs VMs on it.
   */
  embedded: {
    // A developer's machine: no pinning, no niceness change, no metrics collector to spray at.
    vars: { fake_kvm_support: true, cpu_affinity: '', vdsm_nice: 0 },
    metrics: { enabled: false },
    addresses: { management_ip: '127.0.0.1' },
    libvirt: { uri: 'embedded' },
    devel: { embedded: true },
    rpc: { worker_threads: 2 },
    sampling: { periodic_workers: 2 },
    // No privileged helper runs beside a development agent (--set supervdsm.enable=true to use one).
    supervdsm: { enable: false },
  },
  /** The same on plain TCP. */
  dev: {
    vars: { ssl: false, fake_kvm_support: true, cpu_affinity: '', vdsm_nice: 0 },
    metrics: { enabled: false },
    addresses: { management_ip: '127.0.0.1' },
    libvirt: { uri: 'embedded' },
    devel: { embedded: true },
    rpc: { worker_threads: 2 },
    sampling: { periodic_workers: 2 },
    // No privileged helper runs beside a development agent (--set supervdsm.enable=true to use one).
    supervdsm: { enable: false },
  },
} as const satisfies Record<string, PartialConfig>;

export type ProfileName = keyof typeof PROFILES;

export function isProfileName(name: string): name is ProfileName {
  return Object.hasOwn(PROFILES, name);
}
