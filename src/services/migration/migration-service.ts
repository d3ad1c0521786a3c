// Live migration between two agents, both ends: the engine's VM.migrate / migrateCancel /
// migrateChangeParams / getMigrationStatus on the source, the source agent's VM.migrationCreate on the
// destination; the outgoing and incoming slot counts; libvirt events and VM status changes routed to
// the migration they concern; the state of every migration for /health.
import { Errors, vdsmError, wrapError } from '../../errors.js';
import { parseDomainXml, type DomainInfo } from '../../virt/domain-xml.js';
import { MIGRATION_IN_PROGRESS, type MigrationStats } from '../../virt/migration/migration-status.js';
import { MigrateRequestError, parseMigrateRequest, pickGuestInfo, type EngineMigrateParams, type MigrateDefaults } from '../../virt/migration/migration-request.js';
import type { GuestInfo } from '../../virt/vm-report.js';
import { eventTime } from '../../runtime/clock.js';
import { canTransition, VmStatus } from '../../virt/vm-state.js';
import { IncomingMigration } from './incoming.js';
import type { MigratingVm, MigrationCommon, MigrationGuest, MigrationVms, PeerConnector } from './migration-ports.js';
import { OutgoingMigration } from './outgoing.js';
import { Hibernation, type MemoryVolumeStorage } from './hibernation.js';
import { HibernationHandleError, parseHibernationHandle } from '../../virt/migration/hibernation-volumes.js';
import { MigrationSlots } from './slots.js';

export interface MigrationConfig extends MigrateDefaults {
  /** [vars] max_outgoing_migrations / max_incoming_migrations. */
  maxOutgoing: number;
  maxIncoming: number;
  /** [libvirt] migration_uri and [vars] ssl. */
  duriTemplate: string;
  ssl: boolean;
  /** [vars] migration_monitor_interval, migration_retry_timeout, migration_destination_timeout (ms). */
  monitorIntervalMs: number;
  retryTimeoutMs: number;
  destinationTimeoutMs: number;
  /** vdsm's pause between the destination's RESUMED/MIGRATED and Up (1 s). */
  upDelayMs?: number;
  /**
   * [vars] guest_lifecycle_event_reply_timeout: how long a before_* lifecycle event waits for the guest's
   * reply, and an after_migration on the destination for the agent's channel to connect.
   */
  guestEventWaitMs: number;
}

export interface MigrationServiceOptions extends MigrationCommon {
  vms: MigrationVms;
  connectPeer: PeerConnector;
  config: MigrationConfig;
  /** Hibernation's memory and configuration volumes; without storage, VM.hibernate is refused. */
  storage?: MemoryVolumeStorage;
  /** The guest agents: lifecycle events around migrations and hibernation, the desktop lock before a hibernation. */
  guest?: MigrationGuest;
}

/** vdsm's fixed wait for a responsive oVirt agent to lock the desktop before a hibernation. */
export const DESKTOP_LOCK_WAIT_MS = 30_000;

/** VM.migrationCreate's answer (vdsm: the new VM's short status, migrationPort always 0). */
export interface MigrationCreated {
  migrationPort: number;
  params: { vmId: string; status: string; statusTime: string; xml: string };
}

/** The guest information the source sent along (vdsm reports it until the destination's agents speak). */
function guestFromParams(p: Record<string, unknown>): GuestInfo | undefined {
  const g = pickGuestInfo(p);
  return Object.keys(g).length > 0 ? (g as GuestInfo) : undefined;
}

export class MigrationService {
  #o: MigrationServiceOptions;
  #outgoing = new Map<string, OutgoingMigration>();
  #incoming = new Map<string, IncomingMigration>();
  #hibernations = new Map<string, Hibernation>();
  readonly outgoingSlots: MigrationSlots;
  readonly incomingSlots: MigrationSlots;
  #off: (() => void)[] = [];

  constructor(opts: MigrationServiceOptions) {
    this.#o = opts;
    this.outgoingSlots = new MigrationSlots('outgoing', opts.config.maxOutgoing);
    this.incomingSlots = new MigrationSlots('incoming', opts.config.maxIncoming);
  }

  /** Route libvirt events and VM status changes. Idempotent. */
  start(): void {
    if (this.#off.length > 0) return;
    this.#off.push(
      this.#o.libvirt.onEvent((e) => {
        const out = this.#outgoing.get(e.domain.uuid);
        const inc = this.#incoming.get(e.domain.uuid);
        if (e.event === 'lifecycle') {
          out?.onLifecycle(e.type, e.detail);
          inc?.onLifecycle(e.type, e.detail);
        } else if (e.event === 'job-completed') out?.onJobCompleted(e.stats);
      }),
      this.#o.vms.onStatusChange((vm, change) => {
        if (change.to !== VmStatus.DOWN) return;
        const out = this.#outgoing.get(vm.vmId);
        if (out?.active) out.onVmDown(change.cause);
        this.#incoming.get(vm.vmId)?.onVmDown();
      }),
    );
  }

  close(): void {
    for (const off of this.#off.splice(0)) off();
    for (const inc of this.#incoming.values()) inc.close();
  }

  /** VM.migrate: answers at once; the migration runs in the background (Migration Source from now). */
  migrate(vmId: string, params: EngineMigrateParams): true {
    const vm = this.#o.vms.get(vmId);
    if (vm === undefined) throw vdsmError(Errors.NO_VM, { vmId });
    const status = vm.state.status;
    if (status === VmStatus.WAIT_FOR_LAUNCH || status === VmStatus.DOWN) throw vdsmError(Errors.NO_VM, { vmId });
    const previous = this.#outgoing.get(vm.vmId);
    const hibernation = this.#hibernations.get(vm.vmId);
    const busy = [VmStatus.MIGRATION_SOURCE, VmStatus.MIGRATION_DESTINATION, VmStatus.SAVING_STATE, VmStatus.RESTORING_STATE] as string[];
    if (previous?.active || previous?.lingering || hibernation?.active || busy.includes(status)) {
      throw vdsmError(Errors.MIGRATION_IN_PROGRESS, { vmId: vm.vmId, ...(previous?.lingering ? { reason: 'the previous migration call is still blocked in libvirt' } : {}) });
    }
    if (status === VmStatus.PAUSED && vm.state.pauseCode === 'EIO') throw vdsmError(Errors.GENERAL, 'A VM paused on an I/O error cannot be migrated');
    // The engine marks a transient disk in its device metadata (<ovirt-vm:shared>transient</ovirt-vm:shared>).
    if (vm.domain.ovirt?.devices.some((d) => d['shared'] === 'transient') === true) throw vdsmError(Errors.TRANSIENT_DISKS);
    if (params.mode === 'file') return this.#hibernate(vm, params['hiberVolHandle']);
    let request;
    try {
      request = parseMigrateRequest(params, this.#o.config);
    } catch (err) {
      if (err instanceof MigrateRequestError) throw vdsmError(Errors.INVALID_PARAMETER, `${Errors.INVALID_PARAMETER.message}: ${err.message}`);
      throw err;
    }
    this.#prune();
    const c = this.#o.config;
    const out = new OutgoingMigration({
      ...this.#common(), vm, vms: this.#o.vms, request, connectPeer: this.#o.connectPeer, slots: this.outgoingSlots,
      duriTemplate: c.duriTemplate, ssl: c.ssl, monitorIntervalMs: c.monitorIntervalMs, retryTimeoutMs: c.retryTimeoutMs,
      ...(this.#o.guest !== undefined ? { guest: this.#o.guest } : {}), guestEventWaitMs: c.guestEventWaitMs,
    });
    this.#outgoing.set(vm.vmId, out);
    this.#hibernations.delete(vm.vmId);
    this.#o.log.info({ vmId: vm.vmId, dst: `${request.dstHost}:${request.dstPort}` }, 'migration requested');
    return true;
  }

  /**
   * VM.hibernate (vdsm: VM.migrate with mode "file"): answers at once; the VM is Saving State until it
   * is Down with exitReason 5, or back Up when the save failed (VM.getMigrationStatus says why).
   */
  hibernate(vmId: string, hibernationVolHandle: unknown): true {
    return this.migrate(vmId, { mode: 'file', hiberVolHandle: hibernationVolHandle } as EngineMigrateParams);
  }

  #hibernate(vm: MigratingVm, handle: unknown): true {
    let volumes;
    try {
      volumes = parseHibernationHandle(handle);
    } catch (err) {
      if (err instanceof HibernationHandleError) throw vdsmError(Errors.INVALID_PARAMETER, `${Errors.INVALID_PARAMETER.message}: ${err.message}`);
      throw err;
    }
    if (this.#o.storage === undefined) throw vdsmError(Errors.MIGRATE, `${Errors.MIGRATE.message}: this agent has no storage to hibernate to`);
    // Powering down or rebooting: the guest is on its way out or back; hibernate it once it is Up.
    if (!canTransition(vm.state.status, VmStatus.SAVING_STATE)) throw vdsmError(Errors.GENERAL, `The VM cannot be hibernated while it is ${vm.state.status}`);
    this.#prune();
    const h = new Hibernation({
      ...this.#common(), vm, vms: this.#o.vms, volumes, storage: this.#o.storage, slots: this.outgoingSlots,
      ...(this.#o.guest !== undefined ? { guest: this.#o.guest } : {}), guestEventWaitMs: this.#o.config.guestEventWaitMs, desktopLockWaitMs: DESKTOP_LOCK_WAIT_MS,
    });
    this.#hibernations.set(vm.vmId, h);
    this.#outgoing.delete(vm.vmId);
    this.#o.log.info({ vmId: vm.vmId, handle }, 'hibernation requested');
    return true;
  }

  /** VM.migrateCancel: 47 when no migration runs. */
  async cancel(vmId: string): Promise<true> {
    const vm = this.#require(vmId);
    const h = this.#hibernations.get(vm.vmId);
    if (h?.active) {
      await h.cancel();
      return true;
    }
    const out = this.#outgoing.get(vm.vmId);
    if (out === undefined || !out.active) throw vdsmError(Errors.MIG_CANCEL);
    await out.cancel();
    return true;
  }

  /** VM.migrateChangeParams: `maxBandwidth` (MiB/s) of a running migration; 81 when none runs. */
  async changeParams(vmId: string, params: { maxBandwidth?: number }): Promise<true> {
    const vm = this.#require(vmId);
    const out = this.#outgoing.get(vm.vmId);
    if (out === undefined || !out.active) throw vdsmError(Errors.MIG_NOT_IN_PROGRESS);
    if (params.maxBandwidth !== undefined) {
      if (!Number.isInteger(params.maxBandwidth) || params.maxBandwidth < 0) throw vdsmError(Errors.INVALID_PARAMETER, `${Errors.INVALID_PARAMETER.message}: maxBandwidth must be a non-negative integer (MiB/s)`);
      await out.setMaxBandwidth(params.maxBandwidth);
    }
    return true;
  }

  /** VM.getMigrationStatus: the last outgoing migration's status (code 0, progress 0 when none ran). */
  status(vmId: string): MigrationStats {
    const vm = this.#require(vmId);
    return this.#outgoing.get(vm.vmId)?.stats() ?? this.#hibernations.get(vm.vmId)?.stats() ?? { status: { ...MIGRATION_IN_PROGRESS }, progress: 0 };
  }

  /** `migrationProgress` of a VM migrating out. */
  progress(vmId: string): number | undefined {
    const out = this.#outgoing.get(vmId);
    return out?.active ? out.stats().progress : undefined;
  }

  /**
   * VM.migrationCreate's before_vm_migrate_destination hook scripts, on the source's XML, before the
   * destination's record is made: a failed script refuses the migration (hookError, 78), as in vdsm.
   */
  async beforeIncoming(vmId: string, params: Record<string, unknown>): Promise<void> {
    const xml = params['_srcDomXML'];
    // An existing VM or a missing XML: migrationCreate answers with its own error, no script runs.
    if (this.#o.vms.runFailingHook === undefined || typeof xml !== 'string' || this.#o.vms.get(vmId) !== undefined) return;
    let domain: DomainInfo;
    try {
      domain = parseDomainXml(xml);
    } catch {
      return; // migrationCreate answers unusable XML with its own error
    }
    await this.#o.vms.runFailingHook('before_vm_migrate_destination', { vmId, xml, domain });
  }

  /** VM.migrationCreate (from the source agent): the destination's VM record, no libvirt call. */
  migrationCreate(vmId: string, params: Record<string, unknown>, incomingLimit: number | undefined): MigrationCreated {
    if (this.#o.vms.get(vmId) !== undefined) throw vdsmError(Errors.VM_EXISTS);
    const xml = typeof params['_srcDomXML'] === 'string' ? params['_srcDomXML'] : params['xml'];
    if (typeof xml !== 'string' || xml.trim() === '') throw vdsmError(Errors.MISSING_PARAM, 'params._srcDomXML: the source domain XML is required');
    let domain: DomainInfo;
    try {
      domain = parseDomainXml(xml);
    } catch (err) {
      throw wrapError(Errors.CREATE, err);
    }
    if (domain.uuid.toLowerCase() !== vmId.toLowerCase()) throw vdsmError(Errors.CREATE, `${Errors.CREATE.message}: the domain XML is for ${domain.uuid}, not ${vmId}`);
    if (incomingLimit !== undefined && incomingLimit > 0) this.incomingSlots.setBound(incomingLimit);
    if (!this.incomingSlots.tryAcquire()) {
      // vdsm answers an old source (no incomingLimit) with the generic migration error.
      throw vdsmError(incomingLimit !== undefined ? Errors.MIGRATE_LIMIT : Errors.MIGRATE);
    }
    let vm: MigratingVm;
    try {
      const offset = Number(params['elapsedTimeOffset']);
      const guest = guestFromParams(params);
      vm = this.#o.vms.addIncoming(domain, typeof params['xml'] === 'string' ? params['xml'] : xml, {
        ...(Number.isFinite(offset) ? { elapsedTimeOffsetS: offset } : {}),
        ...(guest !== undefined ? { guest } : {}),
      });
    } catch (err) {
      this.incomingSlots.release();
      throw err;
    }
    this.#incoming.get(vm.vmId)?.close();
    this.#incoming.set(vm.vmId, new IncomingMigration({
      ...this.#common(), vm, vms: this.#o.vms, release: () => this.incomingSlots.release(),
      destinationTimeoutMs: this.#o.config.destinationTimeoutMs, upDelayMs: this.#o.config.upDelayMs ?? 1000,
      ...(params['enableGuestEvents'] === true && this.#o.guest !== undefined ? { guestEvents: { guest: this.#o.guest, connectWaitMs: this.#o.config.guestEventWaitMs } } : {}),
    }));
    this.#o.log.info({ vmId: vm.vmId, incomingLimit }, 'migration destination VM created');
    return { migrationPort: 0, params: { vmId: vm.vmId, status: vm.state.status, statusTime: String(eventTime(this.#o.clock)), xml: vm.xml } };
  }

  /** /health: slots and every migration this agent knows (running, stuck, lingering or last finished). */
  health(): Record<string, unknown> {
    this.#prune();
    const stuckAfterMs = Math.max(3 * this.#o.config.monitorIntervalMs, 1000);
    const outgoing = [...this.#outgoing.values()].map((m) => m.describe(stuckAfterMs));
    return {
      slots: { outgoing: this.outgoingSlots.describe(), incoming: this.incomingSlots.describe() },
      active: { outgoing: [...this.#outgoing.values()].filter((m) => m.active).length, incoming: [...this.#incoming.values()].filter((m) => m.active).length, hibernations: [...this.#hibernations.values()].filter((h) => h.active).length },
      stuck: outgoing.filter((m) => m['stuck'] === true).length,
      outgoing,
      incoming: [...this.#incoming.values()].map((m) => m.describe()),
      hibernations: [...this.#hibernations.values()].map((h) => h.describe()),
    };
  }

  /** Forget migrations of VMs that are gone (unless a libvirt call of theirs is still blocked). */
  #prune(): void {
    for (const [id, m] of this.#outgoing) if (this.#o.vms.get(id) === undefined && !m.active && !m.lingering) this.#outgoing.delete(id);
    for (const [id, m] of this.#incoming) if (this.#o.vms.get(id) === undefined && !m.active) this.#incoming.delete(id);
    for (const [id, h] of this.#hibernations) if (this.#o.vms.get(id) === undefined && !h.active) this.#hibernations.delete(id);
  }

  #require(vmId: string): MigratingVm {
    const vm = this.#o.vms.get(vmId);
    if (vm === undefined) throw vdsmError(Errors.NO_VM, { vmId });
    return vm;
  }

  #common(): MigrationCommon {
    const { libvirt, clock, timers, log, publish } = this.#o;
    return { libvirt, clock, timers, log, publish };
  }
}
