// Recovery at start-up: re-adopt the domains libvirt runs (with the same ids and states), and report as
// Down, with an exit reason, the VMs this agent ran that stopped while it was down. Until it completes
// the host is not ready: requests get error 99 and events are held. A failed attempt (libvirt not
// answering) is retried; nothing the state directory holds can fail it: an unreadable records file is
// moved aside, a record or domain XML that cannot be parsed is skipped with an error line, and records
// that cannot be written (a full disk) are logged and retried later.
import { errorMessage } from '../errors.js';
import { Lifecycle } from '../runtime/lifecycle.js';
import type { Logger } from 'pino';
import type { Libvirt } from '../libvirt/client.js';
import type { Timers } from '../runtime/clock.js';
import { parseDomainXml } from '../virt/domain-xml.js';
import { exitInfoForStopped, statusFromDomainState } from '../virt/domain-state.js';
import { normalizeVmId } from '../virt/vm-container.js';
import type { VmManager } from './vm-manager.js';
import type { VmRecordStore } from './vm-records.js';

export const RECOVERY_RETRY_MS = 5000;

export interface RecoveryOptions {
  libvirt: Libvirt;
  vms: VmManager;
  records: VmRecordStore;
  timers: Timers;
  log: Logger;
}

export interface RecoveryResult {
  adopted: string[];
  down: string[];
}

export class Recovery {
  #o: RecoveryOptions;
  readonly #life = new Lifecycle('VM recovery');
  #done = false;
  #timer: unknown;
  #attempts = 0;
  #lastError: string | undefined;
  #result: RecoveryResult | undefined;
  #running: Promise<RecoveryResult | undefined> | undefined;
  #finish: ((result: RecoveryResult | undefined) => void) | undefined;
  #offReconnect: (() => void) | undefined;

  constructor(opts: RecoveryOptions) {
    this.#o = opts;
  }

  get done(): boolean {
    return this.#done;
  }

  /**
   * Recover, retrying every 5 s until it succeeds, and at once when libvirt reconnects meanwhile;
   * resolves once done (with what was adopted), or with undefined when closed first. Idempotent: later
   * callers get the same promise (src/runtime/lifecycle.ts).
   */
  start(): Promise<RecoveryResult | undefined> {
    if (this.#running) return this.#running;
    this.#life.startSync(() => {
      this.#running = new Promise((resolve) => { this.#finish = resolve; });
      this.#offReconnect = this.#o.libvirt.onReconnect(() => {
        if (this.#timer === undefined) return;  // an attempt is running
        this.#o.timers.clearTimeout(this.#timer);
        this.#attempt();
      });
    });
    this.#attempt();
    return this.#running ?? Promise.resolve(undefined);
  }

  /** Stop retrying; a start() still waiting resolves with undefined. Idempotent. */
  close(): void {
    this.#life.closeSync(() => this.#settle(undefined));
  }

  destroy(): void {
    this.close();
  }

  #attempt(): void {
    this.#timer = undefined;
    if (!this.#life.running) return;
    this.#attempts++;
    this.#recoverOnce().then(
      (result) => {
        if (!this.#life.running) return;
        this.#done = true;
        this.#result = result;
        this.#o.log.info({ adopted: result.adopted.length, down: result.down.length, attempts: this.#attempts }, 'VM recovery completed');
        this.#settle(result);
      },
      (err: unknown) => {
        this.#lastError = errorMessage(err);
        if (!this.#life.running) return;
        this.#o.log.warn({ err: this.#lastError, attempt: this.#attempts }, `VM recovery failed; retrying in ${RECOVERY_RETRY_MS / 1000} s`);
        this.#timer = this.#o.timers.setTimeout(() => this.#attempt(), RECOVERY_RETRY_MS);
      },
    );
  }

  #settle(result: RecoveryResult | undefined): void {
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#offReconnect?.();
    this.#offReconnect = undefined;
    this.#finish?.(result);
    this.#finish = undefined;
  }

  state(): Record<string, unknown> {
    return { lifecycle: this.#life.state, done: this.#done, attempts: this.#attempts, lastError: this.#lastError, result: this.#result };
  }

  async #recoverOnce(): Promise<RecoveryResult> {
    const call = this.#o.libvirt.call.bind(this.#o.libvirt);
    const records = await this.#o.records.load();
    const domains = await call('libvirt.listAllDomains', { flags: 0, withState: true });
    const byId = new Map(domains.map((d) => [normalizeVmId(d.uuid), d]));
    const result: RecoveryResult = { adopted: [], down: [] };

    for (const d of domains) {
      const status = statusFromDomainState(d.state);
      const vmId = normalizeVmId(d.uuid);
      if (status === undefined || this.#o.vms.container.has(vmId)) continue;
      const xml = await call('libvirt.xmlDesc', { uuid: d.uuid, flags: 0 });
      const domain = this.#parse(xml, vmId, 'libvirt domain XML');
      if (domain === undefined) continue;
      const record = this.#o.records.get(vmId);
      this.#o.vms.adopt(domain, xml, status, record?.startedAt);
      result.adopted.push(vmId);
      this.#o.log.info({ vmId, name: d.name, status, known: record !== undefined }, 'VM recovered');
    }
    for (const record of records) {
      const vmId = normalizeVmId(record.vmId);
      if (this.#o.vms.container.has(vmId)) continue;
      const entry = byId.get(vmId);
      if (entry !== undefined && statusFromDomainState(entry.state) !== undefined) continue;
      const domain = this.#parse(record.xml, vmId, 'recorded domain XML');
      if (domain === undefined) continue;
      const info = exitInfoForStopped(entry);
      this.#o.vms.adoptDown(domain, record.xml, info);
      result.down.push(vmId);
      this.#o.log.warn({ vmId, name: record.name, exitReason: info.exitReason, exitMessage: info.exitMessage }, 'VM stopped while the agent was down; reported as Down');
    }
    return result;
  }

  /** A domain XML, or undefined (logged) when it cannot be parsed: one bad VM does not stop recovery. */
  #parse(xml: string, vmId: string, what: string): ReturnType<typeof parseDomainXml> | undefined {
    try {
      return parseDomainXml(xml);
    } catch (err) {
      this.#o.log.error({ vmId, err: errorMessage(err) }, `VM skipped by recovery: its ${what} cannot be parsed`);
      return undefined;
    }
  }
}
