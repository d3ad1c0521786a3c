// Recovery at start-up: re-adopt the domains libvirt runs (with the same ids and states), and report as
// Down, with an exit reason, the VMs this agent ran that stopped while it was down. Until it completes
// the host is not ready: requests get error 99 and events are held. A failed attempt is retried.
import type { Logger } from 'pino';
import { DomainState } from '../libvirt/constants.js';
import type { DomainListEntry } from '../contracts/libvirt-types.js';
import type { Dispatcher } from '../contracts/dispatcher.js';
import type { LibvirtOpName } from '../contracts/libvirt-ops.js';
import type { OpArgs, OpResult } from '../contracts/operations.js';
import type { Timers } from '../runtime/clock.js';
import { parseDomainXml } from '../virt/domain-xml.js';
import { ExitCode, exitInfo, VmExitReason, type ExitInfo } from '../virt/exit-reasons.js';
import { normalizeVmId } from '../virt/vm-container.js';
import { VmStatus, type VmStatusName } from '../virt/vm-state.js';
import type { VmManager } from './vm-manager.js';
import type { VmRecordStore } from './vm-records.js';

/** virDomainShutoffReason */
const ShutoffReason = { UNKNOWN: 0, SHUTDOWN: 1, DESTROYED: 2, CRASHED: 3, MIGRATED: 4, SAVED: 5, FAILED: 6, FROM_SNAPSHOT: 7, DAEMON: 8 } as const;

export const RECOVERY_RETRY_MS = 5000;

export interface RecoveryOptions {
  dispatcher: Dispatcher;
  conn: () => number;
  vms: VmManager;
  records: VmRecordStore;
  timers: Timers;
  log: Logger;
  callTimeoutMs: number;
}

export interface RecoveryResult {
  adopted: string[];
  down: string[];
}

/** The status a running domain is re-adopted with. */
export function statusFromDomainState(state: number | undefined): VmStatusName | undefined {
  switch (state) {
    case DomainState.RUNNING:
    case DomainState.BLOCKED:
      return VmStatus.UP;
    case DomainState.PAUSED:
    case DomainState.PMSUSPENDED:
      return VmStatus.PAUSED;
    case DomainState.SHUTDOWN:
      return VmStatus.POWERING_DOWN;
    default:
      return undefined; // shut off, crashed, no state: not running
  }
}

/** Exit info for a VM of ours found shut off (or gone) after a restart. */
export function exitInfoForStopped(entry: DomainListEntry | undefined): ExitInfo {
  const why = 'stopped while vdsm-node was not running';
  if (entry === undefined) return exitInfo(ExitCode.ERROR, VmExitReason.LIBVIRT_DOMAIN_MISSING, `VM ${why}; libvirt no longer knows the domain`);
  if (entry.state === DomainState.CRASHED) return exitInfo(ExitCode.ERROR, VmExitReason.GENERIC_ERROR, `VM crashed (${why})`);
  switch (entry.reason) {
    case ShutoffReason.SHUTDOWN:
      return exitInfo(ExitCode.NORMAL, VmExitReason.USER_SHUTDOWN, `User shut down the VM (${why})`);
    case ShutoffReason.DESTROYED:
      return exitInfo(ExitCode.NORMAL, VmExitReason.ADMIN_SHUTDOWN, `VM destroyed (${why})`);
    case ShutoffReason.CRASHED:
    case ShutoffReason.FAILED:
      return exitInfo(ExitCode.ERROR, VmExitReason.LOST_QEMU_CONNECTION, `VM failed (${why})`);
    case ShutoffReason.MIGRATED:
      return exitInfo(ExitCode.NORMAL, VmExitReason.MIGRATION_SUCCEEDED, `VM migrated away (${why})`);
    case ShutoffReason.SAVED:
      return exitInfo(ExitCode.NORMAL, VmExitReason.SAVE_STATE_SUCCEEDED, `VM saved (${why})`);
    default:
      return exitInfo(ExitCode.ERROR, VmExitReason.GENERIC_ERROR, `VM ${why}`);
  }
}

export class Recovery {
  #o: RecoveryOptions;
  #done = false;
  #timer: unknown;
  #closed = false;
  #attempts = 0;
  #lastError: string | undefined;
  #result: RecoveryResult | undefined;

  constructor(opts: RecoveryOptions) {
    this.#o = opts;
  }

  get done(): boolean {
    return this.#done;
  }

  /** Recover, retrying every 5 s until it succeeds; resolves once done (or closed). */
  run(): Promise<RecoveryResult | undefined> {
    return new Promise((resolve) => {
      const attempt = (): void => {
        if (this.#closed) { resolve(undefined); return; }
        this.#attempts++;
        this.#recoverOnce().then(
          (result) => {
            this.#done = true;
            this.#result = result;
            this.#o.log.info({ adopted: result.adopted.length, down: result.down.length, attempts: this.#attempts }, 'VM recovery completed');
            resolve(result);
          },
          (err: unknown) => {
            this.#lastError = (err as Error).message;
            this.#o.log.warn({ err: this.#lastError, attempt: this.#attempts }, `VM recovery failed; retrying in ${RECOVERY_RETRY_MS / 1000} s`);
            this.#timer = this.#o.timers.setTimeout(attempt, RECOVERY_RETRY_MS);
          },
        );
      };
      attempt();
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
  }

  state(): Record<string, unknown> {
    return { done: this.#done, attempts: this.#attempts, lastError: this.#lastError, result: this.#result };
  }

  async #recoverOnce(): Promise<RecoveryResult> {
    const call = <K extends LibvirtOpName>(op: K, args: Omit<OpArgs<K>, 'conn'>): Promise<OpResult<K>> =>
      this.#o.dispatcher.dispatch(op, { conn: this.#o.conn(), ...args } as OpArgs<K>, { timeoutMs: this.#o.callTimeoutMs, discard: true });
    const records = await this.#o.records.load();
    const domains = await call('libvirt.listAllDomains', { flags: 0, withState: true });
    const byId = new Map(domains.map((d) => [normalizeVmId(d.uuid), d]));
    const result: RecoveryResult = { adopted: [], down: [] };

    for (const d of domains) {
      const status = statusFromDomainState(d.state);
      const vmId = normalizeVmId(d.uuid);
      if (status === undefined || this.#o.vms.container.has(vmId)) continue;
      const xml = await call('libvirt.xmlDesc', { uuid: d.uuid, flags: 0 });
      const record = this.#o.records.get(vmId);
      this.#o.vms.adopt(parseDomainXml(xml), xml, status, record?.startedAt);
      result.adopted.push(vmId);
      this.#o.log.info({ vmId, name: d.name, status, known: record !== undefined }, 'VM recovered');
    }
    for (const record of records) {
      const vmId = normalizeVmId(record.vmId);
      if (this.#o.vms.container.has(vmId)) continue;
      const entry = byId.get(vmId);
      if (entry !== undefined && statusFromDomainState(entry.state) !== undefined) continue;
      const info = exitInfoForStopped(entry);
      this.#o.vms.adoptDown(parseDomainXml(record.xml), record.xml, info);
      result.down.push(vmId);
      this.#o.log.warn({ vmId, name: record.name, exitReason: info.exitReason, exitMessage: info.exitMessage }, 'VM stopped while the agent was down; reported as Down');
    }
    return result;
  }
}
