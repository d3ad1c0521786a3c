// NetworkPrivileged in this process: the applier over LocalNetSystem, the configuration files under
// state_dir and the journal under run_dir. supervdsmd holds one (its network functions serve vdsmd);
// `vdsm-tool restore-nets` makes its own (it runs as root at boot, before both daemons); vdsmd uses one
// only when the helper is disabled ([supervdsm] enable = false, the dev profile: it must then be root).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { NetworkApplier } from './applier.js';
import { ConfigStore, configPaths } from './config-store.js';
import { LocalNetSystem } from './net-system.js';
import { nicFilter } from './netinfo.js';
import type { NetworkPrivileged } from './network-service.js';

export interface InProcessNetworkOptions {
  stateDir: string;
  runDir: string;
  /** [vars] fake_nics */
  fakeNics: readonly string[];
  /** [vars] net_resolv_conf */
  resolvConf: string;
  log: Logger;
}

/** Nameserver lines of a resolv.conf text. */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m !== null) out.push(m[1]!);
  }
  return out;
}

export function createInProcessNetwork(opts: InProcessNetworkOptions): NetworkPrivileged & { applier: NetworkApplier; system: LocalNetSystem; store: ConfigStore } {
  const store = new ConfigStore(configPaths(opts.stateDir, opts.runDir));
  const system = new LocalNetSystem({ dhcpDir: join(opts.runDir, 'netconf', 'dhclient'), resolvConf: opts.resolvConf });
  const nameservers = async (): Promise<string[]> => {
    try {
      return parseResolvConf(await readFile(opts.resolvConf, 'utf8'));
    } catch {
      return [];
    }
  };
  const applier = new NetworkApplier({ system, store, nicFilter: nicFilter(opts.fakeNics), hostNameservers: nameservers, log: opts.log });
  return {
    applier, system, store,
    setup: (args) => applier.setup(args),
    commit: (txId) => applier.commit(txId),
    rollback: (txId, reason) => applier.rollback(txId, reason),
    persist: () => applier.persist(),
    facts: () => system.rawFacts(),
    configs: async () => ({ running: await store.running(), safe: await store.safe() }),
    nameservers,
  };
}
