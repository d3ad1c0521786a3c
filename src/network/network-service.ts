// vdsmd's side of host networking: Host.setupNetworks (hand the change to the privileged applier, run
// the connectivity check, commit or roll back), Host.setSafeNetworkConfig, and the network part of the
// capabilities. The privileged part is reached through NetworkPrivileged: the supervdsm helper in
// production, the same code in this process where no helper is configured (tests, development).
import type { Logger } from 'pino';
import { Errors, vdsmError } from '../errors.js';
import type { RollbackResult, SetupArgs, SetupResult } from './applier.js';
import { sameConfig } from './config-store.js';
import type { ConnectivityCheck } from './connectivity.js';
import { parseSnapshot } from './kernel-state.js';
import { buildNetInfo, nicFilter, type NetInfoReport } from './netinfo.js';
import type { NetConfig, NetworkRawFacts } from './types.js';

/** What runs with privileges (typed, validated arguments; one function per verb). */
export interface NetworkPrivileged {
  setup(args: SetupArgs): Promise<SetupResult>;
  commit(txId: string): Promise<void>;
  rollback(txId: string, reason: string): Promise<RollbackResult>;
  persist(): Promise<NetConfig>;
  /** `ip -json` output and the sysfs facts the reports are made of. */
  facts(): Promise<NetworkRawFacts>;
  /** The running and the safe configuration. */
  configs(): Promise<{ running: NetConfig; safe: NetConfig }>;
  /** The host's nameservers (resolv.conf). */
  nameservers(): Promise<string[]>;
}

export interface NetworkServiceOptions {
  privileged: NetworkPrivileged;
  connectivity: ConnectivityCheck;
  log: Logger;
  /** [vars] fake_nics */
  fakeNics: readonly string[];
}

export class NetworkService {
  #o: NetworkServiceOptions;
  #isNic: ReturnType<typeof nicFilter>;
  #lastRollback: RollbackResult | undefined;
  #dirty = false;

  constructor(opts: NetworkServiceOptions) {
    this.#o = opts;
    this.#isNic = nicFilter(opts.fakeNics);
  }

  /** Host.setupNetworks. Resolves when the change is in place (and confirmed, with a check). */
  async setupNetworks(networks: Record<string, unknown>, bondings: Record<string, unknown>, options: Record<string, unknown>): Promise<void> {
    const { privileged, connectivity, log } = this.#o;
    const res = await privileged.setup({ networks, bondings, options });
    if (res.pending) {
      const seen = await connectivity.wait(res.timeoutS * 1000);
      if (seen === undefined) {
        log.warn({ txId: res.txId, timeoutS: res.timeoutS }, 'connectivity check failed: the engine did not reach the host in time; rolling back');
        this.#lastRollback = await privileged.rollback(res.txId, 'connectivity check failed');
        throw vdsmError(Errors.NET_LOST_CONNECTION, 'connectivity check failed');
      }
      log.info({ txId: res.txId, how: seen.how, afterMs: Math.round(seen.afterMs) }, 'connectivity confirmed');
      await privileged.commit(res.txId);
    }
    await this.refresh();
  }

  /** Host.setSafeNetworkConfig */
  async setSafeNetworkConfig(): Promise<void> {
    await this.#o.privileged.persist();
    await this.refresh();
  }

  /** Re-read whether the running configuration differs from the safe one (netConfigDirty). */
  async refresh(): Promise<boolean> {
    const { running, safe } = await this.#o.privileged.configs();
    this.#dirty = !sameConfig(running, safe);
    return this.#dirty;
  }

  /** The network keys of Host.getCapabilities (and Host.getNetworkCapabilities). */
  async caps(): Promise<NetInfoReport & { netConfigDirty: string }> {
    const [facts, configs, nameservers] = await Promise.all([this.#o.privileged.facts(), this.#o.privileged.configs(), this.#o.privileged.nameservers()]);
    const snap = parseSnapshot(facts);
    this.#dirty = !sameConfig(configs.running, configs.safe);
    return { ...buildNetInfo(snap, configs.running, this.#isNic(snap), nameservers), netConfigDirty: this.#dirty ? 'True' : 'False' };
  }

  /** Running differs from safe (last known; refreshed by caps and every change). */
  get dirty(): boolean {
    return this.#dirty;
  }

  state(): Record<string, unknown> {
    return {
      connectivity: this.#o.connectivity.state(),
      dirty: this.#dirty,
      lastRollback: this.#lastRollback === undefined ? null : { txId: this.#lastRollback.txId, reason: this.#lastRollback.reason, errors: this.#lastRollback.errors },
    };
  }
}
