// One hibernation (vdsm: a migration with mode "file"): the VM goes Saving State, the oVirt guest agent
// is told (before_hibernation, waiting for its reply), the VM is paused, the memory volume is prepared
// and libvirt saves the domain's memory state into it (virDomainSaveFlags, which stops the domain), then
// the VM's parameters go to the configuration volume and the VM is Down with exitReason 5 (SaveState
// succeeded). On failure the VM runs again as before and VM.getMigrationStatus says why.
// The save blocks for as long as the storage takes (without limit on a hung one): it runs on the
// migration Executor, never discarded; the agent keeps serving meanwhile and /health shows the call.
import { errorMessage, Errors, vdsmError } from '../../errors.js';
import { isNoDomain, libvirtErrorInfo } from '../../libvirt/errors.js';
import { VIR_ERROR_NUMBERS } from '../../libvirt/vir-error-numbers.js';
import { encodeSavedParams, formatHibernationHandle, type HibernationVolumes, type VolumeRef } from '../../virt/migration/hibernation-volumes.js';
import { MIGRATION_IN_PROGRESS, statusOf, type MigrationStats, type StatusCode } from '../../virt/migration/migration-status.js';
import { pickGuestInfo } from '../../virt/migration/migration-request.js';
import { ExitCode, exitInfo, VmExitReason } from '../../virt/exit-reasons.js';
import { VmStatus, type VmStatusName } from '../../virt/vm-state.js';
import type { MigratingVm, MigrationCommon, MigrationGuest, MigrationVms } from './migration-ports.js';
import { BlockingCall } from './blocking-call.js';
import type { MigrationSlots } from './slots.js';

/** The storage side: prepare a volume (its path), tear it down, write / read the start of its file. */
export interface MemoryVolumeStorage {
  prepare(v: VolumeRef): Promise<string>;
  teardown(v: VolumeRef): Promise<void>;
  write(path: string, data: Uint8Array): Promise<void>;
  read(path: string, maxBytes: number): Promise<Buffer>;
}

export interface HibernationOptions extends MigrationCommon {
  vm: MigratingVm;
  vms: MigrationVms;
  volumes: HibernationVolumes;
  storage: MemoryVolumeStorage;
  /** The outgoing migration slots (vdsm counts a hibernation as an outgoing migration). */
  slots: MigrationSlots;
  guest?: MigrationGuest;
  /** How long before_hibernation waits for the guest's reply ([vars] guest_lifecycle_event_reply_timeout). */
  guestEventWaitMs: number;
  /** How long a responsive oVirt agent gets to lock the desktop before the VM is paused (vdsm: 30 s). */
  desktopLockWaitMs: number;
}

export type HibernationPhase = 'preparing' | 'locking-desktop' | 'waiting-slot' | 'saving' | 'writing-params' | 'succeeded' | 'failed';

/** vdsm's status message once the VM is saved. */
export const SAVE_STATE_DONE: StatusCode = Object.freeze({ code: 0, message: 'SaveState done' });

const OPERATION_INVALID = VIR_ERROR_NUMBERS['OPERATION_INVALID'];

export class Hibernation {
  readonly vmId: string;
  readonly startedAt: number;
  readonly volumes: HibernationVolumes;
  #o: HibernationOptions;
  #phase: HibernationPhase = 'preparing';
  #status: StatusCode = MIGRATION_IN_PROGRESS;
  #priorStatus: VmStatusName;
  #cancelRequested = false;
  #cancel = new AbortController();
  #holdsSlot = false;
  readonly #call: BlockingCall;
  #failure: string | undefined;
  #endedAt: number | undefined;
  readonly done: Promise<void>;

  constructor(opts: HibernationOptions) {
    this.#o = opts;
    this.vmId = opts.vm.vmId;
    this.volumes = opts.volumes;
    this.startedAt = opts.clock.now();
    this.#call = new BlockingCall(opts.clock);
    this.#priorStatus = opts.vm.state.status;
    // Saving State from the engine's call on: a second hibernate or migrate is refused from now.
    opts.vm.state.savingStarted();
    this.done = this.#run();
  }

  get phase(): HibernationPhase {
    return this.#phase;
  }

  /** Until the save call returned and its outcome is dealt with (the call is the only witness of a save). */
  get active(): boolean {
    return this.#phase !== 'succeeded' && this.#phase !== 'failed';
  }

  stats(): MigrationStats {
    return { status: { ...this.#status }, progress: this.#phase === 'succeeded' ? 100 : 0 };
  }

  /** VM.migrateCancel: before the save, the hibernation stops; during it, libvirt aborts its job. */
  async cancel(): Promise<void> {
    if (!this.active) throw vdsmError(Errors.MIG_CANCEL);
    this.#cancelRequested = true;
    this.#cancel.abort(new Error('Migration canceled'));
    this.#o.log.info({ vmId: this.vmId, phase: this.#phase }, 'hibernation cancel requested');
    if (this.#phase !== 'saving') return;
    try {
      await this.#o.libvirt.call('migration.abortJob', { uuid: this.vmId });
    } catch (err) {
      if (libvirtErrorInfo(err)?.virCode === OPERATION_INVALID || isNoDomain(err)) throw vdsmError(Errors.MIG_CANCEL);
      throw err;
    }
  }

  async #run(): Promise<void> {
    const o = this.#o;
    const vm = o.vm;
    let paused = false;
    try {
      const params = await this.#machineParams();
      await this.#lockDesktop();
      this.#throwIfCancelled();
      this.#phase = 'waiting-slot';
      await o.slots.acquire(this.#cancel.signal);
      this.#holdsSlot = true;
      // The guest hears before_hibernation while it still runs, so it can answer (vdsm pauses first and
      // then waits out the whole reply timeout for a guest that cannot answer).
      const confirmed = await o.guest?.lifecycleEvent(this.vmId, 'before_hibernation', { waitMs: o.guestEventWaitMs }).catch(() => false);
      o.log.info({ vmId: this.vmId, confirmed: confirmed ?? false }, 'before_hibernation to the oVirt guest agent');
      this.#throwIfCancelled();
      // vdsm's before_vm_hibernate: a failed script fails the hibernation, the VM goes on running.
      await o.vms.runFailingHook?.('before_vm_hibernate', { vmId: this.vmId, xml: params['_srcDomXML'] as string, domain: vm.domain });
      // A VM the user paused is saved as it is (libvirt refuses to pause it twice on some drivers).
      if (this.#priorStatus !== VmStatus.PAUSED) {
        await o.libvirt.call('libvirt.suspend', { uuid: this.vmId });
        paused = true;
      }
      this.#throwIfCancelled();
      await this.#save();
      this.#phase = 'writing-params';
      // The domain is saved and gone from libvirt: from here the VM can only come back from the memory
      // volume, which a restore does without the parameters too. A failure to write them is logged, not
      // turned into a VM that runs nowhere reported Up.
      await this.#withVolume(this.volumes.conf, (path) => o.storage.write(path, encodeSavedParams(params)))
        .catch((err: unknown) => o.log.error({ vmId: this.vmId, err: errorMessage(err) }, 'the VM is saved but its parameters could not be written; a restore will use the memory image alone'));
      this.#releaseSlot();
      this.#status = { ...SAVE_STATE_DONE };
      this.#phase = 'succeeded';
      this.#endedAt = o.clock.now();
      if (!vm.state.saveSucceeded() && !vm.state.isDown) vm.state.markDown(exitInfo(ExitCode.NORMAL, VmExitReason.SAVE_STATE_SUCCEEDED), 'hibernated');
      o.log.info({ vmId: this.vmId, handle: formatHibernationHandle(this.volumes), ms: Math.round(this.#endedAt - this.startedAt) }, 'VM hibernated');
      void o.vms.runHook?.('after_vm_hibernate', vm);
    } catch (err) {
      await this.#recover(err, paused);
    }
  }

  /** vdsm's parameters for the VM's return: the live XML, the engine's XML, the time it ran, guest info. */
  async #machineParams(): Promise<Record<string, unknown>> {
    const vm = this.#o.vm;
    const live = await this.#o.vms.liveXml(vm);
    const report = this.#o.vms.report(vm);
    return {
      vmId: this.vmId,
      _srcDomXML: live,
      xml: vm.xml,
      elapsedTimeOffset: Number(report['elapsedTime'] ?? 0),
      ...pickGuestInfo(report),
    };
  }

  /**
   * As vdsm: a responsive oVirt agent is asked to lock the desktop, and the hibernation waits (up to
   * desktopLockWaitMs) until the agent reports the session Locked or LoggedOff, so nobody finds an open
   * desktop when the VM comes back. Without a responsive agent nothing is sent or waited for.
   */
  async #lockDesktop(): Promise<void> {
    const o = this.#o;
    const g = o.guest;
    if (g === undefined || !g.ovirtResponsive(this.vmId)) return;
    this.#phase = 'locking-desktop';
    const sent = await g.desktopLock(this.vmId).then(() => true, (err: unknown) => {
      o.log.info({ vmId: this.vmId, err: errorMessage(err) }, 'desktop lock before hibernation not sent');
      return false;
    });
    if (!sent) return;
    const t0 = o.clock.now();
    const locked = await g.sessionLocked(this.vmId, o.desktopLockWaitMs, this.#cancel.signal);
    if (locked) o.log.info({ vmId: this.vmId, ms: Math.round(o.clock.now() - t0) }, 'desktop locked before hibernation');
    else if (!this.#cancelRequested) o.log.warn({ vmId: this.vmId, waitedMs: o.desktopLockWaitMs }, 'the guest did not lock its desktop in time; hibernating without the desktop lock');
  }

  /** The memory volume prepared, libvirt's save into it (blocking, on the migration Executor), torn down after. */
  async #save(): Promise<void> {
    const o = this.#o;
    this.#phase = 'saving';
    await this.#withVolume(this.volumes.memory, async (path) => {
      o.log.info({ vmId: this.vmId, path }, 'saving the VM\'s memory state');
      await this.#call.track(o.libvirt.save({ uuid: this.vmId, path }));
    });
  }

  async #withVolume<T>(v: VolumeRef, f: (path: string) => Promise<T>): Promise<T> {
    const o = this.#o;
    const path = await o.storage.prepare(v);
    try {
      return await f(path);
    } finally {
      await o.storage.teardown(v).catch((err: unknown) => o.log.warn({ vmId: this.vmId, volume: v.volumeID, err: errorMessage(err) }, 'hibernation volume teardown failed'));
    }
  }

  /** vdsm's _recover: the error status, the VM resumed and back in its former status. */
  async #recover(err: unknown, paused: boolean): Promise<void> {
    const o = this.#o;
    this.#releaseSlot();
    this.#failure = errorMessage(err);
    const aborted = libvirtErrorInfo(err)?.virCode === VIR_ERROR_NUMBERS['OPERATION_ABORTED'];
    this.#status = this.#cancelRequested || aborted ? statusOf(Errors.MIG_CANCEL, 'Migration canceled') : statusOf(Errors.MIGRATE);
    o.log.error({ vmId: this.vmId, err: this.#failure, status: this.#status }, 'hibernation failed');
    if (paused && !o.vm.state.isDown) {
      await o.libvirt.call('libvirt.resume', { uuid: this.vmId }).catch((e: unknown) => o.log.warn({ vmId: this.vmId, err: errorMessage(e) }, 'could not resume the VM after a failed hibernation'));
    }
    this.#phase = 'failed';
    this.#endedAt = o.clock.now();
    if (!o.vm.state.isDown) o.vm.state.saveFailed(this.#priorStatus === VmStatus.PAUSED ? VmStatus.PAUSED : VmStatus.UP);
  }

  #throwIfCancelled(): void {
    if (this.#cancelRequested) throw new Error('Migration canceled');
  }

  #releaseSlot(): void {
    if (!this.#holdsSlot) return;
    this.#holdsSlot = false;
    this.#o.slots.release();
  }

  /** /health. */
  describe(): Record<string, unknown> {
    const now = this.#o.clock.now();
    const call = this.#call.describe(now);
    return {
      vmId: this.vmId,
      direction: 'hibernation',
      handle: formatHibernationHandle(this.volumes),
      phase: this.#phase,
      status: this.#status,
      elapsedMs: Math.round((this.#endedAt ?? now) - this.startedAt),
      cancelRequested: this.#cancelRequested,
      call,
      ...(this.#failure !== undefined ? { failure: this.#failure } : {}),
    };
  }
}
